"""Constants and casts: Constant, ConstantOfShape, Cast (`to` a type number, or opset 1's type name); random ops
are never evaluated at import time."""

from __future__ import annotations

import numpy as np

from ...ir import DenseAttr, TensorType
from ...ir.dtypes import ONNX_TO_IR
from ..core import Unsupported
from .tables import ALWAYS_FOLDED, NEVER_FOLDED, imports
from .values import Opaque, Shp, Sym, ir_dtype

ALWAYS_FOLDED.add("Constant")  # no inputs, a value known at import time
NEVER_FOLDED.update({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
                     "Bernoulli"})


def _cast_target(importer) -> str | None:
    """Cast's `to`: an ONNX element type number, or (opset 1's form) its name, "FLOAT"."""
    to = importer.attr("to")
    if isinstance(to, str):
        from onnx import TensorProto

        to = TensorProto.DataType.Value(to.upper()) if to.upper() in TensorProto.DataType.keys() else None
    return ONNX_TO_IR.get(to)


@imports("Cast")
def _cast(importer, node):
    x = importer.val(0)
    to = _cast_target(importer)
    if to is None:
        raise Unsupported(f"Cast to ONNX type {importer.attr('to')}")
    if to == x.type.dtype:
        return x
    return importer.emit("cast", [x], {"dtype": to})


@imports("ConstantOfShape")
def _constant_of_shape(importer, node):
    """ConstantOfShape of a shape with dynamic entries (a constant shape is folded before this): the value
    broadcast with nn.expand_like from the one tensor whose dims the shape reads. (torch.onnx.export writes
    this for nn.LSTM's zero initial state over a dynamic batch; it is dead, and erased, when only a recurrent
    node read it.)"""
    shape = importer.inp(0)
    if not isinstance(shape, Shp):
        raise Unsupported("the shape is computed at run time from data")
    from onnx import numpy_helper

    value = importer.attr("value")
    arr = numpy_helper.to_array(value) if value is not None else np.zeros(1, np.float32)
    entries = list(shape.array.ravel())
    scalar = arr.ravel()[0].item()
    c = importer.emit("constant", [], {"value": DenseAttr(scalar, TensorType((1,) * len(entries), ir_dtype(arr)))})
    target, like, src = [], [], None
    for i, t in enumerate(entries):
        if isinstance(t, Sym):
            if isinstance(t, Opaque) or t.value is None or (src is not None and src is not t.value):
                raise Unsupported("ConstantOfShape to a computed dynamic size")
            src = t.value
            target.append(-1)
            like.append([i, t.dim])
        else:
            target.append(int(t))
    return importer.emit("expand_like", [c, src], {"shape": target, "like_dims": like})
