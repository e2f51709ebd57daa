"""mean, sum, reduce_max and reduce_min as MXNet's mean, sum, max and min over `axis` (with `keepdims`)."""

from __future__ import annotations

from ...ir import Op
from .emitter import Entry, MxnetEmitter, emits

REDUCERS = {"nn.mean": "mean", "nn.sum": "sum", "nn.reduce_max": "max", "nn.reduce_min": "min"}


@emits(*REDUCERS)
def reduce(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    attrs = {"axis": tuple(op.attrs["axes"]), "keepdims": bool(op.attrs["keepdims"])}
    return emitter.node(REDUCERS[op.name], outs[0], [emitter.operand(op, 0, ins)], attrs)
