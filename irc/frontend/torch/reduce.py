"""ATen reductions → nn.mean, nn.sum, nn.reduce_max, nn.reduce_min."""

from __future__ import annotations

import torch

from .importer import as_ints, imports

aten = torch.ops.aten


def _dims(dim, rank):
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return list(range(rank))
    return as_ints(dim)


@imports(aten.mean.dim)
def _mean(importer, node, x, dim, keepdim=False, dtype=None):
    v = importer.operand(x, importer.out_type().dtype)
    return importer.result("mean", [v], {"axes": _dims(dim, x.meta["val"].dim()), "keepdims": bool(keepdim)})


@imports(aten.mean.default)
def _mean_all(importer, node, x, dtype=None):
    return importer.result("mean", [importer.operand(x, importer.out_type().dtype)],
                           {"axes": list(range(x.meta["val"].dim())), "keepdims": False})


@imports(aten.sum.dim_IntList)
def _sum(importer, node, x, dim, keepdim=False, dtype=None):
    v = importer.operand(x, importer.out_type().dtype)
    return importer.result("sum", [v], {"axes": _dims(dim, x.meta["val"].dim()), "keepdims": bool(keepdim)})


@imports(aten.sum.default)
def _sum_all(importer, node, x, dtype=None):
    return importer.result("sum", [importer.operand(x, importer.out_type().dtype)],
                           {"axes": list(range(x.meta["val"].dim())), "keepdims": False})


@imports(aten.amax.default, aten.amin.default)
def _amax(importer, node, x, dim=(), keepdim=False):
    kind = "reduce_max" if node.target is aten.amax.default else "reduce_min"
    return importer.result(kind, [importer.operand(x)],
                           {"axes": _dims(dim, x.meta["val"].dim()), "keepdims": bool(keepdim)})


@imports(aten.max.dim, aten.min.dim)
def _max_dim(importer, node, x, dim, keepdim=False):
    kind = "reduce_max" if node.target is aten.max.dim else "reduce_min"
    return [importer.result(kind, [importer.operand(x)], {"axes": [int(dim)], "keepdims": bool(keepdim)}, index=0),
            None]
