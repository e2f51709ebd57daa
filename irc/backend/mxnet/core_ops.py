"""cast as Cast (MXNet names dtypes as NumPy does: float32, int64, ...)."""

from __future__ import annotations

from ...formats.mxnet import FLAG_OF
from ...ir import Op
from ...ir.dtypes import TABLE
from .emitter import Entry, MxnetEmitter, Refused, emits


@emits("cast")
def cast(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    dtype = op.attrs["dtype"]
    if dtype not in FLAG_OF:
        raise Refused(f"MXNet has no {dtype}")
    return emitter.node("Cast", outs[0], [emitter.operand(op, 0, ins)], {"dtype": TABLE[dtype].torch})
