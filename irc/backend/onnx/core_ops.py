"""ONNX for constants and casts (irc/ir/ops/core_ops.py); params become initializers in the driver."""

from __future__ import annotations

import numpy as np

from ...ir import IrcError, Op
from ...ir.core import DENSE_MAX
from ...ir.dtypes import IR_TO_NP, IR_TO_ONNX
from .emitter import Emitter, emits, tensor_proto


@emits("constant")
def _constant(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    dense = op.attrs["value"]
    if dense.type.dtype == "bf16":
        raise IrcError("bf16 dense literals have no ONNX form here; store them as params")
    arr = np.array(dense.values, dtype=IR_TO_NP[dense.type.dtype])
    if dense.is_splat and (dense.type.numel() or 0) > DENSE_MAX:  # never materialised: ONNX fills it at run time
        value = tensor_proto(outs[0] + "__value", arr.reshape(1), dense.type.dtype)
        emitter.node("ConstantOfShape", [emitter.ints(outs[0], "shape", dense.type.shape)], outs[0], value=value)
        return
    arr = np.broadcast_to(arr, dense.type.shape).copy() if dense.is_splat else arr.reshape(dense.type.shape)
    emitter.node("Constant", [], outs[0], value=tensor_proto(outs[0], arr, dense.type.dtype))


@emits("cast")
def _cast(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    emitter.node("Cast", ins, outs[0], to=IR_TO_ONNX[op.attrs["dtype"]])
