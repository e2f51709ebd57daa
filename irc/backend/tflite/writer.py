"""Writing the .tflite file: `emit_tflite` makes the IR channel-last when it is not (on a copy:
`nchw-to-nhwc{change-signature=true}` and clean-up passes), builds the ModelT, packs it with TFLite's file
identifier and writes it through `irc.ir.writer.write_files`."""

from __future__ import annotations

import os
from collections.abc import Callable

from ...ir import IrcError, Module, verify
from ...ir.ops import OPS
from ...ir.structure import flatten
from ...ir.writer import write_files
from .emitter import Emitter, pack

CHANNELS_LAST = "nchw-to-nhwc{change-signature=true},canonicalize,fold-constants,cse,dce"


def _channel_first(module: Module) -> list:
    return [op for op in module.main.ops if OPS[op.name].spatial and op.attrs["layout"] == "nchw"]


def channels_last(module: Module) -> Module:
    """`module` itself when no op computes channel-first, else a channel-last copy (the module is untouched)."""
    if not _channel_first(module):
        return module
    from ...ir.parser import parse
    from ...ir.printer import print_module
    from ...passes.manager import run_passes

    store = module.weights
    overlay = type(store).__new__(type(store))
    overlay.__dict__.update(store.__dict__)
    overlay._memory = dict(store._memory)  # passes add tensors to the copy's store only
    copy = parse(print_module(module), module.path, weights=overlay)
    run_passes(copy, CHANNELS_LAST)
    left = _channel_first(copy)
    if left:
        raise IrcError(f"TFLite is channel-last, and {len(left)} op(s) stayed channel-first after nchw-to-nhwc "
                       f"(first: %{left[0].results[0].name} = {left[0].name})")
    return copy


def build(module: Module, weights: str = "f32") -> tuple[bytes, dict]:
    """(the .tflite bytes, a summary) of `module`."""
    verify(module)
    emitter = Emitter(channels_last(module), weights)
    model = emitter.build()
    kinds: dict[str, int] = {}
    names = {code: name for name, code in vars(emitter.schema.BuiltinOperator).items() if not name.startswith("_")}
    for o in emitter.operators:
        code = model.operatorCodes[o.opcodeIndex].builtinCode
        kinds[names[code]] = kinds.get(names[code], 0) + 1
    data = pack(model)
    return data, {"operators": len(emitter.operators), "tensors": len(emitter.tensors), "operator_kinds": kinds}


def emit_tflite(module: Module, output: str, *, progress: Callable[[str], None] | None = None,
                weights: str = "f32", **options: object) -> dict:
    """Write `module` as one .tflite flatbuffer at `output` (atomically); weights "f32" or "f16" (float16
    constants dequantized at load, as TensorFlow's converter writes them). Returns {"files", "detail", ...}."""
    module = flatten(module)  # the blocks inlined (irc.ir.structure)
    if options:
        raise IrcError(f"the tflite target takes no option {', '.join(sorted(options))} (only weights)")
    if module.path and os.path.exists(output) and os.path.exists(module.path) and os.path.samefile(output,
                                                                                                   module.path):
        raise IrcError(f"refusing to overwrite the input file {output}")
    progress = progress or (lambda msg: None)
    progress("building the TFLite model")
    data, summary = build(module, weights)
    progress("writing " + os.path.basename(output))
    write_files([(output, lambda f: f.write(data))], inputs=[module.path])
    detail = f"{summary['operators']} operators, {summary['tensors']} tensors, {len(data)} bytes, {weights} weights"
    return {"files": [output], "detail": detail, "bytes": len(data), **summary}
