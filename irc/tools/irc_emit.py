"""irc-emit: IR → runnable code: PyTorch (model.py + weights) or one ONNX file."""

from __future__ import annotations

import sys

from .. import ir
from ..ir import IrcError
from ..ir.stats import human, summary
from ._cli import Progress, info, make_parser, run

EXAMPLE = """\
  irc-emit resnet50.ir --target pytorch -o resnet50_pt/
      writes resnet50_pt/model.py (class Resnet50, function load()) and resnet50_pt/model.safetensors

  python -c "import sys; sys.path.insert(0, 'resnet50_pt'); import model; m = model.load(); print(m)"
  irc-check resnet50.pth --emitted resnet50_pt/     # same outputs as the source?
  irc-emit resnet50.ir --target onnx -o resnet50.onnx --opset 17
      writes one ONNX file (tensors above 2 GB go to resnet50.onnx.data)"""


def main(argv: list[str] | None = None) -> int:
    return run("irc-emit", _main, argv)


def _main(argv):
    p = make_parser("irc-emit", "Write a verified .ir file as code: a readable PyTorch nn.Module plus its weights.\n\n"
                    "--target pytorch writes OUT/model.py (one nn.Module class named after the IR module; ops\n"
                    "with weights become nn.Conv2d, nn.BatchNorm2d, nn.Linear, ... at the source's module\n"
                    "paths, so state_dict keys match the source) and OUT/model.safetensors.\n"
                    "--target onnx writes one ONNX file (opset --opset, default 18) that passes\n"
                    "onnx.checker.check_model(full_check=True); value and node names follow the IR's.", EXAMPLE)
    p.add_argument("input", help="the .ir file to emit")
    p.add_argument("--target", required=True, choices=["pytorch", "onnx"], help="what to write")
    p.add_argument("--allow-outside-weights", action="store_true",
                   help="read a weight file that the IR names outside its own folder (refused by default)")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="for pytorch: the directory to write model.py and model.safetensors into (created if "
                        "missing); for onnx: the .onnx file")
    p.add_argument("--opset", type=int, default=18, metavar="N",
                   help="for onnx: the ONNX opset to write (13 to 21, default 18)")
    args = p.parse_args(argv)
    if args.target == "onnx":
        if not 13 <= args.opset <= 21:
            raise IrcError(f"--opset {args.opset}: irc writes ONNX opsets 13 to 21")
        progress = Progress("irc-emit", args)
        progress("reading " + args.input)
        module = ir.load(args.input, allow_outside_weights=args.allow_outside_weights)
        from ..backend.onnx import emit_onnx

        try:
            res = emit_onnx(module, args.output, opset=args.opset, progress=progress)
        finally:
            progress.done()
        ext = f", tensors in {res['external_data']}" if res["external_data"] else ""
        info(args, f"irc-emit: wrote {res['path']} (ONNX opset {res['opset']}, {res['nodes']} nodes, "
                   f"{res['initializers']} initializers, {human(res['bytes'], 'B')}{ext})\nirc-emit: {summary(module)}")
        return 0
    progress = Progress("irc-emit", args)
    progress("reading " + args.input)
    module = ir.load(args.input, allow_outside_weights=args.allow_outside_weights)
    from ..backend.pytorch import emit_pytorch

    try:
        res = emit_pytorch(module, args.output, progress=progress)
    finally:
        progress.done()
    how = f"{res['modules']} nn modules"
    if res["renamed"]:
        how += f", {res['renamed']} parameter keys renamed to sanitised names"
    info(args, f"irc-emit: wrote {res['model.py']} (class {res['class']}, {how}) and {res['model.safetensors']} "
               f"({res['params']} tensors, {human(res['bytes'], 'B')})\nirc-emit: {summary(module)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
