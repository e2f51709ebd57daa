"""ReduceMean, ReduceSum, ReduceMax, ReduceMin → nn.mean, nn.sum, nn.reduce_max, nn.reduce_min.

The axes are an attribute before the opset given per op (18; ReduceSum: 13) and an input from it on.
"""

from __future__ import annotations

from .tables import IMPORTERS


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
