"""CoreML for reductions (irc/ir/ops/reduce.py): reduce_mean / reduce_sum / reduce_max / reduce_min with the
IR's axes and keepdims; cumsum (inclusive, forward)."""

from __future__ import annotations

from ...ir import Op
from .emitter import Emitter, emits

REDUCTIONS = {"mean": "reduce_mean", "sum": "reduce_sum", "reduce_max": "reduce_max", "reduce_min": "reduce_min"}


def _reduce(mil_op: str):
    def emit(emitter: Emitter, op: Op, ins: list, names: list) -> object:
        return getattr(emitter.mb, mil_op)(x=ins[0], axes=list(op.attrs["axes"]), keep_dims=op.attrs["keepdims"],
                                           name=names[0])

    return emit


for _ir, _mil in REDUCTIONS.items():
    emits(_ir)(_reduce(_mil))


@emits("cumsum")
def _cumsum(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    return emitter.mb.cumsum(x=ins[0], axis=op.attrs["axis"], name=names[0])
