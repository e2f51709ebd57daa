"""ATen reductions → nn.mean, nn.sum, nn.reduce_max, nn.reduce_min, nn.variance, nn.argmax/argmin, nn.cumsum,
nn.topk, nn.sort."""

from __future__ import annotations

import torch

from ..core import Unsupported
from .importer import as_ints, imports, static

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


@imports(aten.argmax.default, aten.argmin.default)
def _arg_extremum(importer, node, x, dim=None, keepdim=False):
    kind = "argmax" if node.target is aten.argmax.default else "argmin"
    v = importer.operand(x)
    if dim is None:  # over the flattened tensor
        if v.type.rank != 1:
            v = importer.emit("reshape", [v], {"shape": [-1]})
        dim = 0
        if keepdim:
            raise Unsupported(f"{kind} over all dims with keepdim=True is not supported")
    return importer.result(kind, [v], {"axis": int(dim), "keepdims": bool(keepdim)})


@imports(aten.var.correction, aten.var.dim)
def _var(importer, node, x, dim=None, *args, **kwargs):
    if node.target is aten.var.dim:  # var.dim(x, dim, unbiased=True, keepdim=False)
        unbiased = args[0] if args else kwargs.get("unbiased", True)
        keepdim = args[1] if len(args) > 1 else kwargs.get("keepdim", False)
        correction = 1.0 if unbiased else 0.0
    else:  # var.correction(x, dim=None, *, correction=None, keepdim=False)
        correction = kwargs.get("correction")
        correction = 1.0 if correction is None else float(correction)
        keepdim = kwargs.get("keepdim", False)
    v = importer.operand(x)
    return importer.result("variance", [v], {"axes": _dims(dim, v.type.rank), "keepdims": bool(keepdim),
                                             "correction": correction})


@imports(aten.cumsum.default)
def _cumsum(importer, node, x, dim, dtype=None):
    return importer.result("cumsum", [importer.operand(x, importer.out_type().dtype)], {"axis": int(dim)})


@imports(aten.topk.default)
def _topk(importer, node, x, k, dim=-1, largest=True, is_sorted=True):
    attrs = {"k": int(static(k, "topk's k")), "axis": int(dim), "largest": bool(largest), "sorted": bool(is_sorted)}
    types = [importer.out_type(0), importer.out_type(1)]
    return list(importer.emit("topk", [importer.operand(x)], attrs, types, nresults=True))


@imports(aten.sort.default, aten.sort.stable)
def _sort(importer, node, x, *args, **kwargs):
    if node.target is aten.sort.stable:  # sort.stable(x, *, stable, dim=-1, descending=False)
        dim, descending = kwargs.get("dim", -1), kwargs.get("descending", False)
    else:  # sort(x, dim=-1, descending=False)
        dim = args[0] if args else kwargs.get("dim", -1)
        descending = args[1] if len(args) > 1 else kwargs.get("descending", False)
    types = [importer.out_type(0), importer.out_type(1)]
    return list(importer.emit("sort", [importer.operand(x)], {"axis": int(dim), "descending": bool(descending)},
                              types, nresults=True))
