"""irc-emit: IR → runnable code (PyTorch now; ONNX in a later issue)."""

from __future__ import annotations

import sys

from .. import ir
from ..ir.stats import human, summary
from ._cli import info, make_parser, run

EXAMPLE = """\
  irc-emit resnet50.ir --target pytorch -o resnet50_pt/
      writes resnet50_pt/model.py (class Resnet50, function load()) and resnet50_pt/model.safetensors

  python -c "import sys; sys.path.insert(0, 'resnet50_pt'); import model; m = model.load(); print(m)"
  irc-check resnet50.pth --emitted resnet50_pt/     # same outputs as the source?"""


def main(argv=None) -> int:
    return run("irc-emit", _main, argv)


def _main(argv):
    p = make_parser("irc-emit", "Write a verified .ir file as code: a readable PyTorch nn.Module plus its weights.\n\n"
                    "--target pytorch writes OUT/model.py (one nn.Module class named after the IR module; ops\n"
                    "with weights become nn.Conv2d, nn.BatchNorm2d, nn.Linear, ... at the source's module\n"
                    "paths, so state_dict keys match the source) and OUT/model.safetensors.", EXAMPLE)
    p.add_argument("input", help="the .ir file to emit")
    p.add_argument("--target", required=True, choices=["pytorch", "onnx"], help="what to write")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="for pytorch: the directory to write model.py and model.safetensors into (created if missing)")
    args = p.parse_args(argv)
    if args.target == "onnx":
        sys.stderr.write("irc-emit: --target onnx is not built yet (a later issue); use --target pytorch\n")
        return 2
    module = ir.load(args.input)
    from ..backend.pytorch import emit_pytorch

    res = emit_pytorch(module, args.output)
    how = f"{res['modules']} nn modules"
    if res["renamed"]:
        how += f", {res['renamed']} parameter keys renamed to sanitised names"
    info(args, f"irc-emit: wrote {res['model.py']} (class {res['class']}, {how}) and {res['model.safetensors']} "
               f"({res['params']} tensors, {human(res['bytes'], 'B')})\nirc-emit: {summary(module)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
