"""Concat, Split, Squeeze, Unsqueeze, Slice, Reshape, Flatten, Transpose, Pad, Expand, Gather, GatherND,
GatherElements, Tile (its repeats constant).

Older opsets give Split sizes, Squeeze/Unsqueeze axes, Slice bounds and Pad pads as attributes, newer
ones as inputs; both are read. A Reshape/Expand target with dynamic entries (a shape vector) becomes 0
(copy the input's dim) or -1 entries, or nn.expand_like of the tensor whose dims it reads.
"""

from __future__ import annotations

import numpy as np

from ...ir import Value
from ...ir.core import INT64_MAX
from ..core import Unsupported
from .tables import EXTRA_ATTRIBUTES, KEEPS_WEIGHTS, imports
from .values import NAME_SCOPES, Const, Opaque, Sym, nice_float, own_sym, sanitize

KEEPS_WEIGHTS.add("Transpose")  # matmul(x, transpose(W)) + b becomes nn.linear with W under its own key
EXTRA_ATTRIBUTES["Reshape"] = {"shape"}  # opsets 1-4 give the target as an attribute


@imports("Concat")
def _concat(importer, node):
    vals = [importer.val(i) for i in range(len(node.input)) if node.input[i]]
    return importer.emit("concat", vals, {"axis": importer.attr("axis")})


def _even_split(importer, x, axis, count):
    dim = x.type.shape[axis]
    if dim is None:
        raise Unsupported("an even Split of a dynamic dimension")
    parts = importer.attr("num_outputs", count)
    chunk = -(-dim // parts)
    return [min(chunk, dim - i * chunk) for i in range(parts)]


@imports("Split")
def _split(importer, node):
    x = importer.val(0)
    axis = importer.attr("axis", 0) % x.type.rank
    if importer.opset >= 13:
        sizes = importer.ints(1, "split") if importer.inp(1) is not None else None
    else:
        sizes = importer.attr("split")
    if not sizes:
        sizes = _even_split(importer, x, axis, len(node.output))
    names = None
    if not node.name.startswith("/") and not any(p.key == NAME_SCOPES for p in node.metadata_props):
        names = [sanitize(o) if o else importer.base_name(node) for o in node.output]
    return importer.emit("split", [x], {"axis": axis, "sizes": list(sizes)}, name=names, nresults=len(sizes))


@imports("Squeeze")
def _squeeze(importer, node):
    x = importer.val(0)
    if importer.opset >= 13:
        axes = importer.ints(1, "axes") if importer.inp(1) is not None else None
    else:
        axes = importer.attr("axes")
    if axes is None:
        if not x.type.is_static:
            raise Unsupported("Squeeze without axes on a tensor with dynamic dims")
        axes = [i for i, d in enumerate(x.type.shape) if d == 1]
    return importer.emit("squeeze", [x], {"axes": [a % x.type.rank for a in axes]})


@imports("Unsqueeze")
def _unsqueeze(importer, node):
    x = importer.val(0)
    axes = importer.ints(1, "axes") if importer.opset >= 13 else importer.attr("axes")
    rank = x.type.rank + len(axes)
    return importer.emit("unsqueeze", [x], {"axes": sorted(a % rank for a in axes)})


@imports("Slice")
def _slice(importer, node):
    x = importer.val(0)
    if importer.opset >= 10:
        starts, ends = importer.ints(1, "starts"), importer.ints(2, "ends")
        axes = importer.ints(3, "axes") if importer.inp(3) is not None else list(range(len(starts)))
        steps = importer.ints(4, "steps") if importer.inp(4) is not None else [1] * len(starts)
    else:
        starts, ends = importer.attr("starts"), importer.attr("ends")
        axes = importer.attr("axes", list(range(len(starts))))
        steps = [1] * len(starts)
    if any(s <= 0 for s in steps):
        raise Unsupported(f"Slice with steps {steps} (irc slices with positive steps only)")
    ends = [min(e, INT64_MAX) for e in ends]
    attrs = {"axes": [a % x.type.rank for a in axes], "starts": starts, "ends": ends}
    if any(s != 1 for s in steps):
        attrs["steps"] = steps
    return importer.emit("slice", [x], attrs)


def _reshape_target(importer, x, arr, allowzero=False):
    """An ONNX Reshape target (ints and symbolic dims) as nn.reshape's shape (0 copies, -1 infers)."""
    dims = importer.dims.get(importer.node.input[0]) or []
    out = []
    for i, d in enumerate(arr):
        if isinstance(d, Sym):
            mine = own_sym(x, i, dims) if i < x.type.rank and x.type.shape[i] is None else None
            out.append(0 if mine is not None and d.same(mine) else -1)
        else:
            d = int(d)
            if d == 0 and allowzero:
                raise Unsupported("Reshape with allowzero=1 to a zero-sized dimension")
            out.append(d)
    if out.count(-1) > 1:
        raise Unsupported(f"Reshape target {[('?' if isinstance(d, Sym) else int(d)) for d in arr]} has more "
                          "than one dimension known only at run time")
    return out


def _target_shape(importer) -> list:
    """Reshape's and Expand's shape input (input 1): known at import time, entries ints or run-time dims (or
    Reshape's `shape` attribute of opsets 1-4)."""
    if importer.inp(1) is None and importer.attr("shape") is not None:
        return list(importer.attr("shape"))
    target = importer.inp(1)
    if target is None:
        raise Unsupported("the target shape (input 1) is missing")
    if isinstance(target, Value):
        raise Unsupported("the target shape is computed at run time")
    return list(target.array.ravel())


@imports("Reshape")
def _reshape(importer, node):
    x = importer.val(0)
    arr = _target_shape(importer)
    shape = _reshape_target(importer, x, arr, bool(importer.attr("allowzero", 0)))
    return importer.emit("reshape", [x], {"shape": shape})


@imports("Flatten")
def _flatten(importer, node):
    x = importer.val(0)
    rank = x.type.rank
    axis = importer.attr("axis", 1) % (rank + 1) if rank else 0
    base = importer.base_name(node)
    if axis in (0, rank):
        y = importer.emit("flatten", [x], {"start_axis": 0, "end_axis": -1}, name=base + "_all")
        return importer.emit("unsqueeze", [y], {"axes": [0 if axis == 0 else 1]})
    if axis == 1:
        return importer.emit("flatten", [x], {"start_axis": 1, "end_axis": -1})
    y = importer.emit("flatten", [x], {"start_axis": axis, "end_axis": -1}, name=base + "_tail")
    return importer.emit("flatten", [y], {"start_axis": 0, "end_axis": axis - 1})


@imports("Transpose")
def _transpose(importer, node):
    x = importer.val(0)
    perm = importer.attr("perm", list(reversed(range(x.type.rank))))
    return importer.emit("transpose", [x], {"perm": list(perm)})


PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}


@imports("Pad")
def _pad(importer, node):
    x = importer.val(0)
    rank = x.type.rank
    mode = importer.attr("mode", "constant")
    if importer.opset >= 11:
        pads = importer.ints(1, "pads")
        value = importer.const(2, "constant_value")
        value = 0.0 if value is None or value.size == 0 else nice_float(value.ravel()[0])
        axes = importer.ints(3, "axes") if importer.inp(3) is not None else list(range(rank))
    else:
        pads, value, axes = importer.attr("pads"), float(importer.attr("value", 0.0)), list(range(rank))
    n = len(axes)
    full = [[0, 0] for _ in range(rank)]
    for j, a in enumerate(axes):
        full[a % rank] = [pads[j], pads[j + n]]
    irmode = PAD_MODES.get(mode)
    if irmode is None:
        raise Unsupported(f"Pad mode '{mode}'")
    attrs = {"pads": full, "mode": irmode}
    if irmode == "constant":
        attrs["value"] = value
    return importer.emit("pad", [x], attrs)


def _expand_target(importer, node, x, arr):
    """nn.expand's shape for target `arr` (-1 keeps a dim), and the [dim, source dim] pairs and source tensor
    when dynamic entries read another tensor's dims (nn.expand_like)."""
    rank = len(arr)
    lead = rank - x.type.rank
    shape, like, like_src = [], [], None
    dims = importer.dims.get(node.input[0]) or []
    for i, t in enumerate(arr):
        xd = x.type.shape[i - lead] if i >= lead else 1
        if not isinstance(t, Sym):
            t = int(t)
            shape.append(-1 if (t == 1 and i >= lead) else t)
            continue
        mine = own_sym(x, i - lead, dims) if i >= lead and xd is None else None
        if mine is not None and t.same(mine):
            shape.append(-1)
        elif isinstance(t, Opaque) or t.value is None:
            raise Unsupported("Expand to a computed dynamic size")
        else:
            if like_src is not None and like_src is not t.value:
                raise Unsupported("Expand to dynamic sizes of several tensors")
            like_src = t.value
            shape.append(-1 if i >= lead else 1)
            like.append([i, t.dim])
    return shape, like, like_src


@imports("Expand")
def _expand(importer, node):
    x = importer.val(0)
    arr = _target_shape(importer)
    arr = [1] * (x.type.rank - len(arr)) + arr
    shape, like, like_src = _expand_target(importer, node, x, arr)
    if like:
        return importer.emit("expand_like", [x, like_src], {"shape": shape, "like_dims": like})
    if all(s == -1 for s in shape) and len(arr) == x.type.rank:
        return x
    return importer.emit("expand", [x], {"shape": shape})


@imports("Gather")
def _gather(importer, node):
    x = importer.val(0)
    idx = importer.inp(1)
    if isinstance(idx, Const):
        arr = idx.array.astype(np.int64)
        n = x.type.shape[importer.attr("axis", 0) % x.type.rank]
        if n is not None:
            arr = np.where(arr < 0, arr + n, arr)
        iv = importer.as_value(Const(arr), node.input[1])
    else:
        iv = importer.val(1)
    return importer.emit("gather", [x, iv], {"axis": importer.attr("axis", 0)})


@imports("GatherND")
def _gather_nd(importer, node):
    """GatherND with constant indices over static leading dims: a reshape that merges those dims, then a
    Gather along the merged axis at the flattened indices."""
    x = importer.val(0)
    if importer.attr("batch_dims", 0):
        raise Unsupported("GatherND with batch_dims")
    idx = importer.const(1, "indices").astype(np.int64)
    k = idx.shape[-1]
    lead = x.type.shape[:k]
    if None in lead:
        raise Unsupported("GatherND over dynamic dimensions")
    idx = np.where(idx < 0, idx + np.asarray(lead), idx)
    flat = np.zeros(idx.shape[:-1], dtype=np.int64)
    for j in range(k):
        flat = flat * lead[j] + idx[..., j]
    rest = list(x.type.shape[k:])
    if rest.count(None) > 1:
        raise Unsupported("GatherND on a tensor with several dynamic trailing dims")
    merged = x
    if k != 1:
        shape = [int(np.prod(lead))] + [-1 if d is None else d for d in rest]
        merged = importer.emit("reshape", [x], {"shape": shape}, name=importer.base_name(node) + "_flat")
    iv = importer.as_value(Const(flat), node.input[1])
    return importer.emit("gather", [merged, iv], {"axis": 0})


@imports("GatherElements")
def _gather_elements(importer, node):
    """Constant indices have their negative entries made positive (torch.gather takes none); run-time
    indices are taken as they are."""
    x = importer.val(0)
    axis = importer.attr("axis", 0) % x.type.rank
    idx = importer.inp(1)
    if isinstance(idx, Const):
        arr = idx.array.astype(np.int64)
        n = x.type.shape[axis]
        if (arr < 0).any():
            if n is None:
                raise Unsupported("GatherElements with negative indices along a dynamic dimension")
            arr = np.where(arr < 0, arr + n, arr)
        iv = importer.as_value(Const(arr), node.input[1])
    else:
        iv = importer.val(1)
    return importer.emit("gather_elements", [x, iv], {"axis": axis})


@imports("Tile")
def _tile(importer, node):
    return importer.emit("tile", [importer.val(0)], {"repeats": importer.ints(1, "repeats")})
