"""irc-check: compare a converted model with its source on seeded random inputs."""

from __future__ import annotations

import sys

from ..ir import IrcError
from ._cli import Progress, info, make_parser, run

EXAMPLE = """\
  irc-import resnet50.pth --shape 3,224,224 --batch dynamic -o resnet50.ir
  irc-check resnet50.pth --ir resnet50.ir              # the IR, run by the torch executor
  irc-emit resnet50.ir --target pytorch -o resnet50_pt/
  irc-check resnet50.pth --emitted resnet50_pt/        # the emitted model.py + model.safetensors
  irc-opt resnet50.ir --pass fuse-bn -o r50.opt.ir
  irc-check r50_weights.pth --arch torchvision.models:resnet50 --ir r50.opt.ir
      # a state_dict needs --arch; fused weights are new, so the rule picked is `pass`
  irc-emit resnet50.ir --target onnx -o resnet50.onnx
  irc-check resnet50.pth --onnx resnet50.onnx           # in onnxruntime (always the pass rule)
  irc-import model.onnx -o model.ir && irc-check model.onnx --ir model.ir   # an ONNX source, run in onnxruntime
  irc-emit resnet50.ir --target tflite -o r50.tflite && irc-check resnet50.pth --tflite r50.tflite   # in LiteRT
      # a channel-last target: the source gets the inputs transposed, outputs are compared channel-first
  irc-check deploy.prototxt --weights net.caffemodel --ir net.ir     # a Caffe source, run in OpenCV

  irc-check resnet50.pth --ir resnet50.ir --bisect     # when outputs differ: the first op that goes wrong
  irc-check resnet50.pth --ir resnet50.ir --emitted resnet50_pt/ --bisect   # (--ir: the IR emitted from)
  irc-check resnet50.pth --ir resnet50.ir --ncnn r50_ncnn/ --bisect   # the first ncnn layer that goes wrong
  irc-check --ir before.ir --against after.ir --bisect # the first value a pass or a hand edit changed
  irc-check bert.pt --ir bert.ir --input ids:64 --input mask:64   # the IR's dynamic per-sample dims at 64

prints, per output and batch size: max|d| (max abs difference), rel (max|d| / max(1, max|ref|)),
cos (cosine similarity), argmax agreement over the last axis, and whether the rule holds.
Exit status: 0 when every output satisfies the rule, 1 when one does not (or on an error).
--bisect compares every IR value with a counterpart (batch 1) and names the first op whose output leaves
the rule while its inputs were within it, with its IR line and source line; exit 1 when it finds one."""


# the framework files irc-check runs in their own runtime (irc.runtimes), as targets: flag → (metavar, what)
FRAMEWORK_FLAGS = {
    "onnx": ("M.ONNX", "an ONNX file in onnxruntime on the CPU"),
    "tflite": ("M.TFLITE", "a .tflite file in LiteRT"),
    "keras": ("DIR", "a Keras model (a .keras file, or the directory irc-emit --target keras wrote) in Keras"),
    "caffe": ("DIR", "a Caffe model (the directory irc-emit --target caffe wrote, or a prototxt with --weights) "
                     "in OpenCV's dnn module"),
    "ncnn": ("DIR", "the directory irc-emit --target ncnn wrote, in ncnn"),
    "coreml": ("M.MLPACKAGE", "a CoreML package, read back into IR and run by irc's executor (CoreML itself runs "
                              "only on macOS)"),
    "mxnet": ("DIR", "the directory irc-emit --target mxnet wrote, in MXNet 1.9 (a python given by $IRC_MXNET_PYTHON, "
                     "MXNet needs numpy 1.23.5)"),
}


def main(argv: list[str] | None = None) -> int:
    return run("irc-check", _main, argv)


def _main(argv):
    p = make_parser("irc-check", "Run the source model and a converted one on the same seeded random inputs "
                    "(the IR's input shapes;\nbatch sizes 1 and 3 when the batch is dynamic) and compare every "
                    "output with the rules of\nDESIGN.md's fidelity table.", EXAMPLE)
    p.add_argument("source", nargs="?", help="the source model, in any form irc-import takes (an ONNX file runs in "
                                             "onnxruntime); not given with --against")
    p.add_argument("--ir", metavar="M.IR", help="check this IR (run with the torch executor)")
    p.add_argument("--emitted", metavar="DIR", help="check the PyTorch code irc-emit wrote into DIR")
    for kind, (meta, what) in FRAMEWORK_FLAGS.items():
        p.add_argument(f"--{kind}", metavar=meta, help=f"check {what}")
    p.add_argument("--weights", metavar="FILE", help="the weights of a Caffe or Darknet SOURCE (.caffemodel, "
                                                     ".weights), or of a --caffe prototxt")
    p.add_argument("--bisect", action="store_true",
                   help="compare every intermediate value and name the first op that goes wrong (with --emitted "
                        "or --onnx, also give --ir: the IR they were emitted from)")
    p.add_argument("--bisect-all", action="store_true", help="as --bisect, printing every op, not only the rows "
                                                             "around the first divergence")
    p.add_argument("--against", metavar="AFTER.IR", help="with --ir BEFORE.IR --bisect and no SOURCE: the first "
                                                         "value AFTER.IR computes differently, matched by name")
    p.add_argument("--rule", choices=["auto", "exact", "pass", "f16"], default="auto",
                   help="exact: bit-identical or rtol=1e-5, atol=1e-6; pass: max|d| <= 1e-4*max(1, max|ref|) and "
                        "rtol=1e-3, atol=1e-4 (after fusion/folding passes); f16: the same at 1e-2 (float16 weights or "
                        "compute). auto (default): exact when every weight is the source's own unchanged tensor, f16 "
                        "for a float16 file, else pass")
    p.add_argument("--rtol", type=float, help="override the rule's relative tolerance")
    p.add_argument("--atol", type=float, help="override the rule's absolute tolerance")
    p.add_argument("--seed", type=int, default=0, help="seed for the random inputs (default 0)")
    p.add_argument("--input", action="append", default=[], metavar="NAME:DIMS[:DTYPE]",
                   help="as irc-import: the per-sample shape of the IR's input NAME, giving the sizes its dynamic "
                        "dims other than the batch are checked at (default: the batch size); with --ir")
    p.add_argument("--allow-outside-weights", action="store_true",
                   help="read a weight file that the IR names outside its own folder (refused by default)")
    p.add_argument("--arch", help="as irc-import: the architecture for a state_dict, package.module:callable or "
                                  "path/to/file.py:Class")
    p.add_argument("--arch-args", metavar="JSON", help="as irc-import: keyword arguments for --arch, a JSON object")
    p.add_argument("--trust-pickle", action="store_true",
                   help="as irc-import: allow loading a pickled whole-model checkpoint (can run code)")
    args = p.parse_args(argv)
    args.bisect = args.bisect or args.bisect_all
    _validate(p, args)
    args.sized_ir = _sized_ir(args)
    if args.bisect:
        return _bisect(args)
    progress = Progress("irc-check", args)
    progress("loading " + args.source)
    model = _load_model(args)
    from ..check import check

    progress("running both models")
    try:
        result = check(model, ir=args.sized_ir, emitted=args.emitted, runtime=_runtime(args), rule=args.rule,
                       rtol=args.rtol, atol=args.atol, seed=args.seed,
                       allow_outside_weights=args.allow_outside_weights, weights=_target_weights(args))
    finally:
        progress.done()
    for line in result.lines():
        print(line)
    info(args, f"irc-check: {'ok' if result.ok else 'FAIL'}: {len(result.rows)} outputs compared "
               f"against {args.source} (rule {result.rule})")
    return 0 if result.ok else 1


def _targets(args) -> list[tuple[str, str]]:
    """(flag, value) of every target given: --ir, --emitted, and the framework files."""
    flags = [("ir", args.ir), ("emitted", args.emitted)] + [(k, getattr(args, k)) for k in FRAMEWORK_FLAGS]
    return [(f"--{k}", v) for k, v in flags if v is not None]


def _sized_ir(args):
    """--ir as given, or, with --input, the IR loaded with the dynamic per-sample dims of the named inputs set
    to the sizes given (the batch stays dynamic): what the check feeds and, with --bisect, what the source is
    exported at."""
    if not args.input:
        return args.ir
    if args.ir is None:
        raise IrcError("--input gives sizes for the dynamic dims of the IR's inputs: give the IR with --ir")
    from .. import ir
    from ..frontend.torch.export import parse_input

    module = ir.load(args.ir, allow_outside_weights=args.allow_outside_weights)
    by_name = {a.name: a for a in module.main.args}
    for text in args.input:
        name, shape, dtype = parse_input(text)
        arg = by_name.get(name)
        if arg is None:
            raise IrcError(f"--input '{text}': {args.ir} has no input '{name}' (inputs: {', '.join(by_name)})")
        dtype = dtype if text.count(":") == 2 else arg.type.dtype
        per_sample = arg.type.shape[1:]
        if dtype != arg.type.dtype or len(shape) != len(per_sample) or \
                any(d is not None and d != n for d, n in zip(per_sample, shape, strict=True)):
            raise IrcError(f"--input '{text}': does not fit {name}: {arg.type} (per sample, '?' takes any size)")
        arg.type = ir.TensorType(arg.type.shape[:1] + shape, dtype)
    return module


def _runtime(args) -> tuple[str, str] | None:
    return next(((k, getattr(args, k)) for k in FRAMEWORK_FLAGS if getattr(args, k) is not None), None)


def _target_weights(args) -> str | None:
    """--weights belongs to a --caffe prototxt when the source holds its own weights."""
    return args.weights if args.caffe is not None and args.caffe.endswith(".prototxt") else None


def _validate(p, args) -> None:
    """argparse's own errors for a missing SOURCE and one target, except where --bisect (--ir with --emitted or a
    framework file) and --against (no SOURCE) allow more."""
    given = _targets(args)
    if args.against is not None:
        if not args.bisect or args.ir is None:
            p.error("--against AFTER.IR needs --ir BEFORE.IR and --bisect")
        if args.source is not None or len(given) > 1:
            p.error("--against compares two IR files: give no SOURCE, --emitted or --onnx with it")
        return
    if args.source is None:
        p.error("the following arguments are required: source")
    if not given:
        p.error("one of the arguments --ir --emitted " + " ".join(f"--{k}" for k in FRAMEWORK_FLAGS) + " is required")
    allowed = args.bisect and given[0][0] == "--ir" and len(given) == 2
    if len(given) > 1 and not allowed:
        p.error(f"argument {given[1][0]}: not allowed with argument {given[0][0]}")
    if args.bisect and args.ir is None:
        p.error(f"--bisect with {given[0][0]} needs --ir M.IR too: the IR it was emitted from (op order, lines)")


def _load_model(args):
    from ..frontend import detect

    fmt = detect(args.source)  # a framework file: the reference runs in its own runtime
    if fmt is not None:
        from ..check import FileSource

        if fmt.needs_weights and args.weights is None:
            raise IrcError(f"{args.source} is a {fmt.name} model: give its weights with --weights ({fmt.weights_help})")
        return FileSource(fmt.name.lower(), args.source, args.weights if fmt.needs_weights else None)
    try:
        from ..frontend.torch.load import load_source
    except ImportError:
        raise IrcError("reading SOURCE needs the PyTorch frontend (irc.frontend.torch), which is not "
                       "installed in this build") from None
    return load_source(args.source, arch=args.arch, arch_args=args.arch_args, trust_pickle=args.trust_pickle,
                       materialize=True)


def _bisect(args) -> int:
    from ..bisect import bisect

    progress = Progress("irc-check", args)
    try:
        model = None
        if args.source is not None:
            progress("loading " + args.source)
            model = _load_model(args)
        progress("running both models, keeping every intermediate value")
        result = bisect(model, ir=args.sized_ir, emitted=args.emitted, runtime=_runtime(args), against=args.against,
                        rule=args.rule, rtol=args.rtol, atol=args.atol, seed=args.seed,
                        allow_outside_weights=args.allow_outside_weights, weights=_target_weights(args))
    finally:
        progress.done()
    for line in result.lines(every=args.bisect_all):
        print(line)
    found = result.culprit is not None
    info(args, f"irc-check: {'FAIL' if found else 'ok'}: {result.compared} values compared "
               f"against {args.source or args.ir} (rule {result.rule})")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
