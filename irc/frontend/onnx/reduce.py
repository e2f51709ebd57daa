"""ReduceMean, ReduceSum, ReduceMax, ReduceMin → nn.mean, nn.sum, nn.reduce_max, nn.reduce_min; ArgMax, ArgMin,
CumSum, TopK → nn.argmax, nn.argmin, nn.cumsum, nn.topk (nn.sort when it keeps the whole axis in order).

The axes are an attribute before the opset given per op (18; ReduceSum: 13) and an input from it on.
ArgMax/ArgMin take the first index on ties (select_last_index=1 is refused); CumSum is inclusive and forward
(exclusive=1 and reverse=1 are refused) along a constant axis; TopK needs a constant k.
"""

from __future__ import annotations

from ..core import Unsupported
from .tables import IMPORTERS, imports


def _reduce(kind, input_from):
    def reduce(importer, node):
        x = importer.val(0)
        if importer.opset >= input_from:
            axes = importer.ints(1, "axes") if importer.inp(1) is not None else None
        else:
            axes = importer.attr("axes")
        if not axes:
            if importer.attr("noop_with_empty_axes", 0):
                return x
            axes = list(range(x.type.rank))
        return importer.emit(kind, [x], {"axes": [a % x.type.rank for a in axes],
                                         "keepdims": bool(importer.attr("keepdims", 1))})
    return reduce


IMPORTERS.register("ReduceMean")(_reduce("mean", 18))
IMPORTERS.register("ReduceSum")(_reduce("sum", 13))
IMPORTERS.register("ReduceMax")(_reduce("reduce_max", 18))
IMPORTERS.register("ReduceMin")(_reduce("reduce_min", 18))


def _arg_extremum(kind):
    def arg_extremum(importer, node):
        if importer.attr("select_last_index", 0):
            raise Unsupported(f"{node.op_type} with select_last_index=1 (irc takes the first index on ties)")
        return importer.emit(kind, [importer.val(0)], {"axis": importer.attr("axis", 0),
                                                       "keepdims": bool(importer.attr("keepdims", 1))})
    return arg_extremum


IMPORTERS.register("ArgMax")(_arg_extremum("argmax"))
IMPORTERS.register("ArgMin")(_arg_extremum("argmin"))


@imports("CumSum")
def _cumsum(importer, node):
    for flag in ("exclusive", "reverse"):
        if importer.attr(flag, 0):
            raise Unsupported(f"CumSum with {flag}=1 (irc's cumsum is the inclusive forward sum)")
    x = importer.val(0)
    axis = importer.ints(1, "axis")
    if axis is None or len(axis) != 1:
        raise Unsupported("CumSum needs one constant axis")
    return importer.emit("cumsum", [x], {"axis": axis[0]})


@imports("TopK")
def _topk(importer, node):
    """TopK (k an attribute before opset 10, then an input); the whole sorted axis is nn.sort."""
    x = importer.val(0)
    k = [importer.attr("k")] if importer.opset < 10 else importer.ints(1, "k")
    if k is None or len(k) != 1 or k[0] is None:
        raise Unsupported("TopK needs a constant k")
    k = k[0]
    axis, largest, ordered = importer.attr("axis", -1), bool(importer.attr("largest", 1)), importer.attr("sorted", 1)
    if ordered and k == x.type.shape[axis % x.type.rank]:
        return importer.emit("sort", [x], {"axis": axis, "descending": largest}, nresults=2)
    return importer.emit("topk", [x], {"k": k, "axis": axis, "largest": largest, "sorted": bool(ordered)},
                         nresults=2)
