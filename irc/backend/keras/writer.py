"""Writing the Keras model: `emit_keras(module, out_dir)` → `model.py`, `model.weights.h5`, `model.keras`.

The module is made channels-last first when it has channel-first spatial ops (on a copy: `nchw-to-nhwc` with
the signature changed, then the usual clean-up passes). model.py is then executed to build the model (the code
written is the code that made the files), each layer gets its weights, and Keras saves the weights and the
ready `.keras`; the three files are written as one unit through `irc.ir.writer.write_files`, the `.keras` last.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable

from ...ir import IrcError, Module
from ...ir.ops import OPS
from ...ir.structure import flatten
from ...ir.writer import write_files
from .emitter import KerasEmitter
from .source import model_source

CHANNELS_LAST = "nchw-to-nhwc{change-signature=true},canonicalize,fold-constants,cse,dce"
FILES = ("model.py", "model.weights.h5", "model.keras")


def channels_last(module: Module) -> Module:
    """`module` itself when no spatial op is channel-first, else a channels-last copy (the input is untouched)."""
    if not any(OPS[op.name].spatial and op.attrs["layout"] == "nchw" for op in module.ops()
               if op.name in OPS and op.results and op.results[0].type is not None and op.results[0].type.rank == 4):
        return module
    from ...ir import parse
    from ...ir.printer import print_module
    from ...ir.weights import WeightStore
    from ...passes.manager import run_passes

    store = WeightStore()
    for key in module.weights.keys() if module.weights is not None else ():
        store.add(key, module.weights.numpy(key), module.weights.type_of(key).dtype)
    copy = parse(print_module(module), weights=store)
    copy.name = module.name
    return run_passes(copy, CHANNELS_LAST)


def build_source(module: Module) -> tuple[str, KerasEmitter]:
    """(model.py's text, the emitter holding each layer's weights) for a channels-last module."""
    emitter = KerasEmitter(module)
    emitter.run()
    return model_source(emitter, module.name), emitter


def build_keras_model(source: str, emitter: KerasEmitter) -> object:
    """Run model.py's build_model() and give every layer its weights."""
    import_keras()
    namespace: dict = {"__name__": "irc_keras_model", "__file__": "model.py"}
    exec(compile(source, "model.py", "exec"), namespace)  # noqa: S102  (the code irc just wrote and checked)
    model = namespace["build_model"]()
    for line in emitter.lines:
        if line.weights is not None:
            model.get_layer(line.name).set_weights(line.weights)
    return model


def emit_keras(module: Module, output: str, *, progress: Callable[[str], None] | None = None,
               weights: str = "f32", **options: object) -> dict:
    """Write `module` as a Keras 3 model in the folder `output`; returns {"files", "detail"}."""
    module = flatten(module)  # the blocks inlined (irc.ir.structure)
    if options:
        raise IrcError(f"the Keras target takes no option {', '.join(sorted(options))}")
    if weights != "f32":
        raise IrcError(f"the Keras target writes f32 weights only (asked for {weights})")
    progress = progress or (lambda msg: None)
    progress("making the graph channels-last")
    prepared = channels_last(module)
    progress("writing model.py")
    source, emitter = build_source(prepared)
    progress("building the Keras model")
    model = build_keras_model(source, emitter)
    paths = [os.path.join(output, name) for name in FILES]
    with tempfile.TemporaryDirectory(prefix="irc-keras.") as folder:
        progress("saving model.weights.h5 and model.keras")
        model.save_weights(os.path.join(folder, FILES[1]))
        model.save(os.path.join(folder, FILES[2]))
        blobs = [source.encode()] + [open(os.path.join(folder, name), "rb").read() for name in FILES[1:]]
    write_files([(path, _writer(blob)) for path, blob in zip(paths, blobs, strict=True)], inputs=[module.path])
    count = sum(1 for line in emitter.lines if line.name is not None)
    n_bytes = sum(w.nbytes for line in emitter.lines for w in line.weights or ())
    return {"files": paths, "detail": f"{count} Keras layers, {n_bytes} bytes of weights", "layers": count,
            "bytes": n_bytes}


def import_keras() -> object:
    """The keras module, on the torch backend unless KERAS_BACKEND says otherwise."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError as e:
        raise IrcError(f"writing a Keras model needs keras (pip install 'irc[keras]'): {e}") from None
    return keras


def _writer(blob: bytes) -> Callable:
    return lambda f: f.write(blob)


__all__ = ["CHANNELS_LAST", "FILES", "build_keras_model", "build_source", "channels_last", "emit_keras", "import_keras"]
