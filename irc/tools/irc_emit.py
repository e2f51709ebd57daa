"""irc-emit: IR → runnable code or a framework file: every target of `irc.backend.TARGETS`."""

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
  irc-emit resnet50.fused.ir --target pytorch --channels-last -o fast/   # channels-last convolutions
  irc-emit resnet50.ir --target onnx -o resnet50.onnx --opset 17
      writes one ONNX file (tensors above 2 GB go to resnet50.onnx.data)
  irc-emit resnet50.ir --target tflite -o resnet50.tflite --weights f16   # channels-last, float16 weights
  irc-emit resnet50.ir --target keras -o resnet50_keras/     # model.py + model.weights.h5 + model.keras
  irc-emit resnet50.ir --target caffe -o resnet50_caffe/     # deploy.prototxt + model.caffemodel
  irc-emit resnet50.ir --target ncnn -o resnet50_ncnn/       # model.ncnn.param + model.ncnn.bin"""


def main(argv: list[str] | None = None) -> int:
    return run("irc-emit", _main, argv)


def _parser():
    from ..backend import TARGETS

    targets = "\n".join(f"  {t.name:8} {t.summary}" for t in TARGETS.values())
    p = make_parser("irc-emit", "Write a verified .ir file as code or as a framework's model file.\n\n"
                    f"targets (-o names the directory or the file):\n{targets}\n\n"
                    "pytorch: ops with weights become nn.Conv2d, nn.BatchNorm2d, nn.Linear, ... at the source's "
                    "module paths,\nso state_dict keys match the source. onnx: passes "
                    "onnx.checker.check_model(full_check=True).\nkeras and tflite are channels-last: an NCHW IR "
                    "goes through nchw-to-nhwc first.", EXAMPLE)
    p.add_argument("input", help="the .ir file to emit")
    p.add_argument("--target", required=True, choices=list(TARGETS), help="what to write")
    p.add_argument("--allow-outside-weights", action="store_true",
                   help="read a weight file that the IR names outside its own folder (refused by default)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="the directory or file to write (see "
                                                                         "the targets above)")
    p.add_argument("--opset", type=int, metavar="N", help="for onnx: the ONNX opset to write (13 to 21, default 18)")
    p.add_argument("--channels-last", action="store_true",
                   help="for pytorch: load() puts 4-d weights in channels-last memory format, so torch's CPU "
                        "convolutions run channels-last (faster; results within the pass rule, not bit-identical)")
    p.add_argument("--weights", choices=["f32", "f16"], help="for tflite and ncnn: store weights as float32 "
                                                             "(default) or float16")
    return p


def _options(args, target) -> dict:
    given = {"opset": args.opset, "weights": args.weights, "channels_last": args.channels_last or None}
    for name, value in given.items():
        if value is not None and name not in target.options:
            raise IrcError(f"--{name.replace('_', '-')} does not apply to --target {target.name}")
    return {name: value for name, value in given.items() if value is not None}


def _main(argv):
    from ..backend import TARGETS
    from ..frontend import resolve

    args = _parser().parse_args(argv)
    target = TARGETS[args.target]
    options = _options(args, target)
    if args.target == "onnx":
        options.setdefault("opset", 18)
        if not 13 <= options["opset"] <= 21:
            raise IrcError(f"--opset {options['opset']}: irc writes ONNX opsets 13 to 21")
    progress = Progress("irc-emit", args)
    progress("reading " + args.input)
    module = ir.load(args.input, allow_outside_weights=args.allow_outside_weights)
    try:
        emit = resolve(target.emit)
    except ImportError as e:
        raise IrcError(f"--target {target.name} needs a package that is not installed: {e}") from None
    try:
        res = emit(module, args.output, progress=progress, **options)
    finally:
        progress.done()
    info(args, f"irc-emit: wrote {_written(args.target, res)}\nirc-emit: {summary(module)}")
    return 0


def _written(target: str, res: dict) -> str:
    """What the summary line says was written: the first targets' own words, the others' `files` and `detail`."""
    if target == "onnx":
        ext = f", tensors in {res['external_data']}" if res["external_data"] else ""
        return (f"{res['path']} (ONNX opset {res['opset']}, {res['nodes']} nodes, {res['initializers']} "
                f"initializers, {human(res['bytes'], 'B')}{ext})")
    if target == "pytorch":
        how = f"{res['modules']} nn modules"
        if res["renamed"]:
            how += f", {res['renamed']} parameter keys renamed to sanitised names"
        return (f"{res['model.py']} (class {res['class']}, {how}) and {res['model.safetensors']} "
                f"({res['params']} tensors, {human(res['bytes'], 'B')})")
    return f"{', '.join(res['files'])} ({res['detail']})"


if __name__ == "__main__":
    sys.exit(main())
