"""irc-import: a PyTorch model file → m.ir + m.safetensors."""

from __future__ import annotations

import os
import sys

from ..ir import DTYPES, IrcError
from ..ir.weights import INDEX_SUFFIX
from ._cli import Progress, info, make_parser, run

EXAMPLE = """\
  # a whole-model pickle, one input of 3x224x224, batch 1
  irc-import resnet50.pth --shape 3,224,224 -o resnet50.ir
  # a state_dict, with the architecture from your own script, a dynamic batch
  irc-import weights.pth --arch my_model.py:Net --arch-args '{"num_classes": 10}' \\
      --shape 3,32,32 --batch dynamic -o net.ir
  # two inputs: an image and a float vector
  irc-import two.pt --shape 3,64,64 --shape 10 --dtype f32 --dtype f32 -o two.ir
  # named inputs (NAME:DIMS[:DTYPE], per sample), a dynamic batch and a sequence length shared by both
  irc-import bert.pt --input ids:128:i64 --input mask:128:i64 --dynamic batch,ids.0=seq,mask.0=seq -o bert.ir
  # a layer irc cannot import, kept whole: one opaque op calling your class (repeatable)
  irc-import net.pth --shape 3,64,64 --keep-module my_pkg.layers:FancyAttention -o net.ir
  # a Hugging Face style sharded safetensors checkpoint, built on the meta device: written beside the
  # shards, the IR refers to them (elsewhere they are copied, file to file)
  irc-import ckpt/model.safetensors.index.json --arch decoder.py:Decoder --input tokens:128:i64 -o ckpt/m.ir
  # an ONNX file (opsets 7-21): its own input shapes are used
  irc-import resnet50.onnx -o resnet50.ir
  # a Keras 3 model (.keras or .h5; channel-last, see irc-opt --pass nhwc-to-nchw)
  irc-import mobilenet.keras -o mobilenet.ir
Kinds are detected from the content: torch.save pickle (whole model or state_dict), safetensors
(a file or an index of shards, with --arch), TorchScript archive, torch.export .pt2, ONNX, Keras.
Pickled whole models that weights_only loading refuses need --trust-pickle (a pickle can run arbitrary code)."""


def parse_shape(text: str) -> tuple:
    try:
        dims = tuple(int(d) for d in text.replace("x", ",").split(",") if d.strip() != "")
    except ValueError:
        raise IrcError(f"--shape '{text}': expected comma-separated positive integers, e.g. 3,224,224") from None
    if any(d <= 0 for d in dims):
        raise IrcError(f"--shape '{text}': dimensions must be positive")
    return dims


def parse_batch(text: str) -> int | str:
    if text == "dynamic":
        return "dynamic"
    try:
        b = int(text)
    except ValueError:
        raise IrcError(f"--batch '{text}': expected a positive integer or 'dynamic'") from None
    if b < 1:
        raise IrcError(f"--batch '{text}': expected a positive integer or 'dynamic'")
    return b


def main(argv: list[str] | None = None) -> int:
    return run("irc-import", _main, argv)


def _check_args(args):
    """The per-input shapes and dtypes and the batch, after every check that needs no file."""
    shapes = [parse_shape(s) for s in args.shape]
    batch = parse_batch(args.batch)
    dtypes = list(args.dtype)
    for d in dtypes:
        if d not in DTYPES:
            raise IrcError(f"--dtype '{d}': unknown element type (known: {' '.join(DTYPES)})")
    if dtypes and len(dtypes) not in (1, len(shapes)):
        raise IrcError(f"{len(dtypes)} --dtype for {len(shapes)} --shape: give one per input, or one for all")
    if len(dtypes) == 1:
        dtypes = dtypes * len(shapes)
    dtypes = dtypes or ["f32"] * len(shapes)
    out = args.output
    if os.path.exists(args.model) and os.path.exists(out) and os.path.samefile(args.model, out):
        raise IrcError(f"refusing to overwrite the input file {out}")
    if not out.endswith(".ir"):
        raise IrcError(f"-o {out}: the output should be an .ir file (its weights go to a .safetensors beside it)")
    out_dir = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(out_dir):
        raise IrcError(f"-o {out}: directory {out_dir} does not exist")
    if args.name is not None and not args.name.strip():
        raise IrcError("--name must not be empty")
    if args.input and (args.shape or args.dtype):
        raise IrcError("--input names each input with its shape and dtype; do not mix it with --shape/--dtype")
    if args.input or args.dynamic:  # the syntax, before any file is read
        from ..frontend.torch.export import plan_inputs

        plan_inputs(args.input, shapes, dtypes, batch, args.dynamic)
    return shapes, dtypes, batch


def _summary(args, module, out: str, kind: str, wname: str | None) -> None:
    from ..ir.flops import count_flops, format_flops
    from ..ir.stats import summary

    dynamic = any(d is None for a in module.main.args for d in a.type.shape)
    shape_note = ", ".join(str(a.type) for a in module.main.args)
    flops = format_flops(count_flops(module)) + (" per sample" if dynamic else "")
    written = f"{out} and {wname}" if wname else out
    if wname and module.weights is not None and module.weights.is_index() and wname.endswith(INDEX_SUFFIX):
        shards = {module.weights.shard_of(k) for k in module.weights.keys()} - {None}
        written += f" (referring to the checkpoint's {len(shards)} shard{'s' * (len(shards) != 1)}, not a copy)"
    info(args, f"irc-import: wrote {written} from {kind} {os.path.basename(args.model)}\n"
               f"  inputs: {shape_note}\n  {summary(module)}\n  {flops} at the imported shape")


def _main(argv):
    p = make_parser("irc-import", "Import a PyTorch model into irc IR (m.ir + m.safetensors).", EXAMPLE)
    p.add_argument("model", help="the model file: torch.save pickle or state_dict, TorchScript archive, .pt2, ONNX, "
                                 "Keras (.keras, .h5), TFLite, a Caffe prototxt or a Darknet .cfg (with --weights)")
    p.add_argument("--shape", action="append", default=[], metavar="C,H,W",
                   help="per-sample input shape (without the batch); once per input")
    p.add_argument("--batch", default="1", help="batch size N (default 1) or 'dynamic' for a '?' batch dimension")
    p.add_argument("--dtype", action="append", default=[], metavar="DTYPE",
                   help=f"element type per input (default f32); one of {' '.join(DTYPES)}")
    p.add_argument("--input", action="append", default=[], metavar="NAME:DIMS[:DTYPE]",
                   help="a named input with its per-sample shape and element type (default f32), once per input in "
                        "forward's order: x:3,224,224:f32, mask:128:i64 (instead of --shape/--dtype)")
    p.add_argument("--dynamic", action="append", default=[], metavar="DIMS",
                   help="dims made dynamic ('?'), comma-separated: 'batch', INPUT.DIM (INPUT a name or position, DIM "
                        "a per-sample dim), INPUT.DIM=NAME (dims of the same NAME are one size): batch,mask.0=seq")
    p.add_argument("--keep-module", action="append", default=[], metavar="CLASS",
                   help="keep every instance of this nn.Module class (package.module:Class or path/to/file.py:Class) "
                        "as one opaque op that calls it; repeatable")
    p.add_argument("--flat", action="store_true",
                   help="one flat function; by default a PyTorch model keeps its blocks (one function per distinct "
                        "submodule structure, called with nn.call)")
    p.add_argument("--arch", help="architecture for a state_dict: package.module:callable or path/to/file.py:Class")
    p.add_argument("--arch-args", metavar="JSON", help="keyword arguments for --arch, as a JSON object")
    p.add_argument("--trust-pickle", action="store_true",
                   help="load whole-model pickles that weights_only loading refuses (runs code from the file)")
    p.add_argument("--weights", metavar="FILE", help="the weights of a Caffe prototxt (.caffemodel) or a Darknet .cfg "
                                                     "(.weights)")
    p.add_argument("--name", help="the IR module's name (default: the model's class name)")
    p.add_argument("-o", "--output", required=True, help="the .ir file to write (weights go beside it)")
    args = p.parse_args(argv)

    shapes, dtypes, batch = _check_args(args)
    out = args.output

    progress = Progress("irc-import", args)
    warnings_seen = []

    def warn(msg):
        warnings_seen.append(msg)
        progress.clear()
        sys.stderr.write(f"irc-import: warning: {msg}\n")

    try:
        progress("reading " + os.path.basename(args.model))
        from ..frontend import detect

        fmt = detect(args.model)  # by content: ONNX, Keras, TFLite, Caffe, Darknet, whatever the file is called
        if fmt is not None:
            return _import_described(args, out, progress, warn, fmt)
        if args.weights is not None:
            raise IrcError("--weights is for a Caffe prototxt or a Darknet .cfg; a PyTorch file holds its own")
        module, kind = _import_torch(args, shapes, dtypes, batch, progress, warn)
        progress("writing " + os.path.basename(out))
        from .. import ir

        wname = ir.save(module, out)
    finally:
        progress.done()
    _summary(args, module, out, kind, wname)
    return 0


def _import_torch(args, shapes, dtypes, batch, progress, warn):
    """(the imported module, the kind of file) for a PyTorch model file."""
    from ..frontend.torch.load import load_source

    src = load_source(args.model, arch=args.arch, arch_args=args.arch_args, trust_pickle=args.trust_pickle)
    from ..frontend.torch import import_model
    from ..frontend.torch.export import plan_inputs

    plan = plan_inputs(args.input, shapes, dtypes, batch, args.dynamic)
    input_types = plan.input_types
    if src.kind == "exported program":
        if shapes:
            warn("a .pt2 holds its own input shapes; --shape, --dtype and --batch are ignored")
        if args.input or args.dynamic:
            warn("a .pt2 holds its own input shapes; --input and --dynamic are ignored")
        input_types = None
    elif not input_types:
        raise IrcError("give the input shape with --shape (per sample, e.g. --shape 3,224,224), once per input, "
                       "or name each input with --input NAME:DIMS[:DTYPE]")
    module = import_model(src.model, input_types, batch=plan.batch, name=args.name, progress=progress, warn=warn,
                          dynamic_dims=plan.dynamic_dims if input_types else None,
                          input_names=plan.names if input_types else None, keep_modules=args.keep_module or None,
                          structured=not args.flat, weights=src.weights)
    return module, src.kind


def _import_described(args, out, progress, warn, fmt):
    """irc-import of a file that describes its own inputs (ONNX, Keras, TFLite, Caffe, Darknet): its own input
    shapes are used; --shape/--dtype/--batch/--arch do not apply."""
    from .. import ir
    from ..frontend import resolve

    if args.shape or args.dtype or args.arch or args.batch != "1":
        warn(f"the {fmt.name} model holds its own input shapes; --shape, --dtype, --batch and --arch are ignored")
    if args.input or args.dynamic or args.keep_module:
        warn(f"the {fmt.name} model holds its own input shapes and layers; --input, --dynamic and --keep-module "
             "apply to PyTorch models and are ignored")
    extra = {}
    if fmt.needs_weights:
        if args.weights is None:
            raise IrcError(f"{args.model} is a {fmt.name} model: give its weights with --weights ({fmt.weights_help})")
        extra["weights"] = args.weights
    elif args.weights is not None:
        raise IrcError(f"--weights: a {fmt.name} model holds its own weights")
    try:
        import_file = resolve(fmt.load)
    except ImportError as e:
        raise IrcError(f"reading a {fmt.name} model needs a package that is not installed: {e}") from None
    try:
        module = import_file(args.model, name=args.name, progress=progress, warn=warn, **extra)
        progress("writing " + os.path.basename(out))
        wname = ir.save(module, out)
    finally:
        progress.done()
    _summary(args, module, out, f"{fmt.name} model", wname)
    return 0


if __name__ == "__main__":
    sys.exit(main())
