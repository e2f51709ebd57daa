"""mean, sum, max and min over `axis` (all axes when absent; `exclude` refused) with `keepdims`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...ir import Value
from ..core import Unsupported
from .importer import Node, imports

if TYPE_CHECKING:
    from .importer import MxnetImporter

REDUCERS = {"mean": "mean", "sum": "sum", "sum_axis": "sum", "max": "reduce_max", "max_axis": "reduce_max",
            "min": "reduce_min", "min_axis": "reduce_min"}


@imports(*REDUCERS)
def reduce(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    if node.flag("exclude"):
        raise Unsupported("exclude = True")
    rank = ins[0].type.rank
    axes = node.ints("axis") if node.text("axis", "None") not in ("None", "()") else list(range(rank))
    attrs = {"axes": sorted(a % rank for a in axes), "keepdims": node.flag("keepdims")}
    return importer.emit(REDUCERS[node.op], ins[:1], attrs)
