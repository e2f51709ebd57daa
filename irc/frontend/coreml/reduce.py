"""MIL reductions → IR (irc/ir/ops/reduce.py): reduce_mean / reduce_sum / reduce_max / reduce_min with their
axes (all axes when absent) and keep_dims; an inclusive forward cumsum."""

from __future__ import annotations

from ..core import Unsupported
from .importer import CoremlImporter, imports

REDUCTIONS = {"reduce_mean": "mean", "reduce_sum": "sum", "reduce_max": "reduce_max", "reduce_min": "reduce_min"}


def _reduce(kind: str):
    def handler(importer: CoremlImporter, op: object) -> object:
        x = importer.value(op.inputs["x"])
        axes = importer.attr(op, "axes") or list(range(x.type.rank))
        return importer.emit(kind, [x], {"axes": axes, "keepdims": bool(importer.attr(op, "keep_dims", False))})

    return handler


for _mil, _ir in REDUCTIONS.items():
    imports(_mil)(_reduce(_ir))


@imports("cumsum")
def _cumsum(importer: CoremlImporter, op: object) -> object:
    if importer.attr(op, "exclusive", False) or importer.attr(op, "reverse", False):
        raise Unsupported("an exclusive or reversed cumsum")
    return importer.emit("cumsum", [importer.value(op.inputs["x"])], {"axis": importer.attr(op, "axis", 0)})
