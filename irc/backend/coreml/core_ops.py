"""CoreML for constants and casts (irc/ir/ops/core_ops.py); params become `const` ops in the driver."""

from __future__ import annotations

import numpy as np

from ...ir import IrcError, Op
from ...ir.dtypes import IR_TO_NP
from .emitter import MIL_DTYPES, Emitter, emits


@emits("constant")
def _constant(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    dense = op.attrs["value"]
    if dense.type.dtype == "bf16":
        raise IrcError("bf16 literals have no CoreML form")
    arr = np.array(dense.values, dtype=IR_TO_NP[dense.type.dtype])
    arr = np.broadcast_to(arr, dense.type.shape).copy() if dense.is_splat else arr.reshape(dense.type.shape)
    if arr.dtype == np.int64:
        arr = arr.astype(np.int32)
    return emitter.mb.const(val=arr, name=names[0])


@emits("cast")
def _cast(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    dtype = op.attrs["dtype"]
    if dtype not in MIL_DTYPES:
        raise IrcError(f"a cast to {dtype} has no CoreML form (f32, f16, i32, i1)")
    return emitter.mb.cast(x=ins[0], dtype=MIL_DTYPES[dtype], name=names[0])
