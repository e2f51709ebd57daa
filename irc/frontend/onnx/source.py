"""Reading an ONNX model: from a path, bytes or a ModelProto; the dims shape inference gives its values."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ...ir import IrcError
from ...ir.writer import finish_pending_writes

if TYPE_CHECKING:
    from onnx import ModelProto


def load_onnx(src: str | os.PathLike | bytes | ModelProto) -> ModelProto:
    """A ModelProto from a path, bytes or a ModelProto (external data resolved beside the file)."""
    import onnx

    if isinstance(src, onnx.ModelProto):
        return src
    if isinstance(src, (bytes, bytearray)):
        return onnx.load_from_string(bytes(src))
    path = os.fspath(src)
    finish_pending_writes(path)  # an irc-emit of .onnx + .onnx.data killed half-way: complete it first
    if not os.path.exists(path):
        raise IrcError(f"{path}: no such file")
    try:
        return onnx.load(path)
    except Exception as e:  # noqa: BLE001  (protobuf and onnx raise many kinds)
        first = str(e).splitlines()[0] if str(e) else ""
        raise IrcError(f"{path}: not a readable ONNX model: {type(e).__name__}: {first}") from None


def is_onnx_file(path: str) -> bool:
    """True when the file parses as an ONNX ModelProto with a graph (checked from content, not name)."""
    try:
        with open(path, "rb") as f:
            head = f.read(1)
        if head not in (b"\x08", b"\x12", b"\x1a", b"\x22", b"\x2a", b"\x32", b"\x3a", b"\x42"):
            return False
        import onnx

        m = onnx.load(path, load_external_data=False)
        return m.HasField("graph") and m.ir_version > 0
    except Exception:  # noqa: BLE001  (not a protobuf: not ONNX)
        return False


def without_weight_bytes(model: ModelProto) -> ModelProto:
    """A copy of `model` for shape inference, without the bytes of its large float initializers.

    Shape inference copies the whole model into C++ and back (VGG16: 3.4 s and 1.6 GB above the
    model itself); it needs only the dims and types of weights. Integer initializers and small ones
    keep their values, which data propagation reads (Reshape shapes, Slice starts, ...)."""
    import onnx

    light = onnx.ModelProto()
    light.ir_version = model.ir_version
    light.opset_import.extend(model.opset_import)
    light.functions.extend(model.functions)
    g, src = light.graph, model.graph
    g.name = src.name
    for field in ("node", "input", "output", "value_info", "sparse_initializer"):
        getattr(g, field).extend(getattr(src, field))
    keep = (onnx.TensorProto.INT64, onnx.TensorProto.INT32)
    for t in src.initializer:
        n = 1
        for d in t.dims:
            n *= d
        if n <= 1024 or t.data_type in keep:
            g.initializer.add().CopyFrom(t)
        else:
            lt = g.initializer.add()
            lt.name, lt.data_type = t.name, t.data_type
            lt.dims.extend(t.dims)
    return light


def read_dims(model: ModelProto) -> dict[str, list]:
    """The dims of every value ONNX shape inference knows: ints, dim_param strings, or None."""
    import onnx

    dims = {}
    try:
        inferred = onnx.shape_inference.infer_shapes(without_weight_bytes(model), data_prop=True)
        infos = list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output)
    except Exception:  # noqa: BLE001  (inference is a hint; fall back to the declared shapes)
        infos = list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output)
    for vi in infos:
        tt = vi.type.tensor_type
        if tt.HasField("shape"):
            dims[vi.name] = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim]
    return dims


__all__ = ["is_onnx_file", "load_onnx", "read_dims", "without_weight_bytes"]
