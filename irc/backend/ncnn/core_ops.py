"""ncnn for constants and casts (irc/ir/ops/core_ops.py): a constant becomes a MemoryData layer when an op
reads it as a blob (its value is kept until then); a cast between float types is the identity (ncnn computes
in float32), any other cast is refused. Params are read by the layers that store them."""

from __future__ import annotations

import numpy as np

from ...ir import IrcError, Op
from ...ir.dtypes import FLOAT_DTYPES, IR_TO_NP
from .emitter import Emitter, emits


@emits("constant")
def _constant(emitter: Emitter, op: Op) -> None:
    dense = op.attrs["value"]
    if dense.type.dtype not in IR_TO_NP:
        raise IrcError(f"a {dense.type.dtype} constant has no ncnn form")
    arr = np.asarray(dense.values, dtype=IR_TO_NP[dense.type.dtype])
    shape = dense.type.shape
    emitter.constants[id(op.results[0])] = np.broadcast_to(arr, shape) if dense.is_splat else arr.reshape(shape)


@emits("cast")
def _cast(emitter: Emitter, op: Op) -> None:
    if op.attrs["dtype"] not in FLOAT_DTYPES or op.operands[0].type.dtype not in FLOAT_DTYPES:
        raise IrcError(f"ncnn computes in float32: no cast from {op.operands[0].type.dtype} to {op.attrs['dtype']}")
    emitter.alias(op.results[0], emitter.blob(op.operands[0]))
