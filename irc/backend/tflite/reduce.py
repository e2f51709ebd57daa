"""TFLite for reductions (irc/ir/ops/reduce.py): MEAN, SUM, REDUCE_MAX, REDUCE_MIN over int32 axes."""

from __future__ import annotations

import numpy as np

from ...ir import Op
from .emitter import Emitter, emits

REDUCTIONS = {"mean": "MEAN", "sum": "SUM", "reduce_max": "REDUCE_MAX", "reduce_min": "REDUCE_MIN"}


def _reduce(builtin: str):
    def emit(emitter: Emitter, op: Op) -> None:
        rank = op.operands[0].type.rank
        axes = emitter.const(op, "axes", np.asarray([a % rank for a in op.attrs["axes"]], np.int32))
        emitter.operator(builtin, [emitter.input(op, 0), axes], [emitter.output(op)], "ReducerOptions",
                         keepDims=bool(op.attrs["keepdims"]))

    return emit


for _kind, _builtin in REDUCTIONS.items():
    emits(_kind)(_reduce(_builtin))
