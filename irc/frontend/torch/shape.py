"""ATen data movement → nn's shape ops (reshape, transpose, slice, split, pad, gather, ...)."""

from __future__ import annotations

import torch

from ...ir.core import INT64_MAX
from ...ir.dtypes import FLOAT_DTYPES
from ..core import Unsupported
from .importer import as_ints, imports, static, static_dim, static_list, sym_key, tensor_type

aten = torch.ops.aten


@imports(aten.t.default)
def _t(importer, node, x):
    perm = [1, 0] if x.meta["val"].dim() == 2 else [0]
    return importer.result("transpose", [importer.operand(x)], {"perm": perm})


@imports(aten.cat.default, aten.concat.default)
def _cat(importer, node, xs, dim=0):
    """nn.concat; torch.cat skips a 1-D empty tensor whatever the others' rank (an empty cache, for instance)."""
    want = importer.out_type().dtype
    rank = node.meta["val"].dim()
    xs = [x for x in xs if not (isinstance(x, torch.fx.Node) and _legacy_empty(x.meta.get("val"), rank))]
    vals = [importer.operand(x, want) for x in xs]
    if len(vals) == 1:
        return vals[0]
    return importer.result("concat", vals, {"axis": int(dim)})


def _legacy_empty(fake: object, rank: int) -> bool:
    """A tensor of shape (0,) that torch.cat ignores when the others have another rank."""
    return isinstance(fake, torch.Tensor) and fake.dim() == 1 and rank != 1 and static_dim(fake.shape[0]) == 0


def _reshape_attr(importer, x, out):
    """nn.reshape's `shape` for a fake output shape: static dims as ints, a dynamic dim equal to
    the input's at the same index as 0, at most one other dynamic dim as -1."""
    inp = x.meta["val"].shape
    attr = []
    for i, d in enumerate(out):
        s = sym_key(d)
        if s is None:
            attr.append(int(d))
        elif i < len(inp) and sym_key(inp[i]) == s:
            attr.append(0)
        else:
            attr.append(-1)
    if attr.count(-1) > 1:
        raise Unsupported(f"reshape to {list(out)} has more than one dynamic dimension that is not copied "
                          "from the input")
    # a static 0-sized dim would read as 'copy'; irc does not import empty tensors
    if any(d == 0 and sym_key(out[i]) is None for i, d in enumerate(attr)):
        raise Unsupported("reshape to a shape with a zero-sized dimension")
    return attr


@imports(aten.view.default, aten.reshape.default, aten._unsafe_view.default)
def _view(importer, node, x, shape):
    out = node.meta["val"].shape
    inp = x.meta["val"].shape
    v = importer.operand(x)
    if len(out) == len(inp) and all(sym_key(a) == sym_key(b) and static_dim(a) == static_dim(b)
                                    for a, b in zip(inp, out, strict=True)):
        return v
    return importer.result("reshape", [v], {"shape": _reshape_attr(importer, x, out)})


@imports(aten.flatten.using_ints)
def _flatten(importer, node, x, start=0, end=-1):
    return importer.result("flatten", [importer.operand(x)], {"start_axis": int(start), "end_axis": int(end)})


@imports(aten.permute.default)
def _permute(importer, node, x, perm):
    rank = x.meta["val"].dim()
    return importer.result("transpose", [importer.operand(x)], {"perm": [p % rank for p in perm]})


@imports(aten.transpose.int)
def _transpose(importer, node, x, dim0, dim1):
    rank = x.meta["val"].dim()
    perm = list(range(rank))
    dim0, dim1 = dim0 % rank, dim1 % rank
    perm[dim0], perm[dim1] = perm[dim1], perm[dim0]
    return importer.result("transpose", [importer.operand(x)], {"perm": perm})


@imports(aten.unsqueeze.default)
def _unsqueeze(importer, node, x, dim):
    return importer.result("unsqueeze", [importer.operand(x)], {"axes": [int(dim)]})


@imports(aten.squeeze.dim, aten.squeeze.dims, aten.squeeze.default)
def _squeeze(importer, node, x, dim=None):
    shape = x.meta["val"].shape
    rank = len(shape)
    if dim is None:
        axes = [i for i, d in enumerate(shape) if static_dim(d) == 1]
    else:
        axes = [a % max(rank, 1) for a in as_ints(dim)]
        axes = [a for a in axes if rank and static_dim(shape[a]) == 1]  # torch ignores dims that are not 1
    if not axes:
        return importer.operand(x)
    return importer.result("squeeze", [importer.operand(x)], {"axes": axes})


def _slice_bounds(importer, x, dim, start, end, step):
    shape = x.meta["val"].shape
    size = shape[dim]
    start = 0 if start is None else start
    end = INT64_MAX if end is None else end
    if isinstance(end, (torch.SymInt, torch.fx.Node)):
        e_sym = sym_key(end.meta["val"]) if isinstance(end, torch.fx.Node) else sym_key(end)
        if e_sym is not None and e_sym == sym_key(size):
            end = INT64_MAX
        else:
            end = static(end, "slice end")
    start = static(start, "slice start")
    end = min(int(end), INT64_MAX)
    return int(start), end, int(step)


@imports(aten.slice.Tensor)
def _slice(importer, node, x, dim=0, start=None, end=None, step=1):
    rank = x.meta["val"].dim()
    dim = dim % rank
    s, e, st = _slice_bounds(importer, x, dim, start, end, step)
    size = static_dim(x.meta["val"].shape[dim])
    if s == 0 and st == 1 and (e >= INT64_MAX or (size is not None and e >= size)):
        return importer.operand(x)
    return importer.result("slice", [importer.operand(x)],
                           {"axes": [dim], "starts": [s], "ends": [e], "steps": [st] if st != 1 else None})


@imports(aten.select.int)
def _select(importer, node, x, dim, index):
    rank = x.meta["val"].dim()
    dim = dim % rank
    index = static(index, "select index")
    end = index + 1 if index != -1 else INT64_MAX
    s = importer.emit("slice", [importer.operand(x)], {"axes": [dim], "starts": [index], "ends": [end]})
    return importer.result("squeeze", [s], {"axes": [dim]})


def _split_results(importer, node, x, sizes, dim):
    rank = x.meta["val"].dim()
    types = [tensor_type(t) for t in node.meta["val"]]
    vals = importer.emit("split", [importer.operand(x)], {"axis": dim % rank, "sizes": sizes}, types, nresults=True)
    for r, f in zip(vals, node.meta["val"], strict=True):
        importer.note_syms(r, f)
    return list(vals)


@imports(aten.split.Tensor, aten.split_with_sizes.default, aten.split.sizes)
def _split(importer, node, x, size, dim=0):
    sizes = [static(t.shape[dim % t.dim()], "split size") for t in node.meta["val"]]
    return _split_results(importer, node, x, sizes, dim)


@imports(aten.chunk.default)
def _chunk(importer, node, x, chunks, dim=0):
    sizes = [static(t.shape[dim % t.dim()], "chunk size") for t in node.meta["val"]]
    return _split_results(importer, node, x, sizes, dim)


@imports(aten.unbind.int)
def _unbind(importer, node, x, dim=0):
    rank = x.meta["val"].dim()
    dim = dim % rank
    count = static(x.meta["val"].shape[dim], "unbind size")
    pieces = importer.emit("split", [importer.operand(x)], {"axis": dim, "sizes": [1] * count}, nresults=True)
    return [importer.emit("squeeze", [p], {"axes": [dim]}, [tensor_type(t)])
            for p, t in zip(pieces, node.meta["val"], strict=False)]


def _expand_attrs(importer, x, out):
    """nn.expand / nn.expand_like attributes for a fake output shape."""
    inp = x.meta["val"].shape
    lead = len(out) - len(inp)
    shape, like = [], []
    for i, d in enumerate(out):
        src = inp[i - lead] if i >= lead else None
        if i >= lead and (sym_key(src) == sym_key(d) and static_dim(src) == static_dim(d)):
            shape.append(-1)
        elif sym_key(d) is None:
            shape.append(int(d))
        else:
            found = importer.sym_source.get(sym_key(d))
            if found is None:
                raise Unsupported(f"cannot express the dynamic size {d} in expand")
            shape.append(1 if i < lead or static_dim(src) == 1 else -1)
            like.append((i, found))
    return shape, like


@imports(aten.expand.default)
def _expand(importer, node, x, size, implicit=False):
    out = node.meta["val"].shape
    shape, like = _expand_attrs(importer, x, out)
    v = importer.operand(x)
    if all(s == -1 for s in shape) and not like and len(shape) == v.type.rank:
        return v
    if not like:
        return importer.result("expand", [v], {"shape": shape})
    owners = {id(val) for _, (val, _) in like}
    if len(owners) > 1:
        raise Unsupported("expand to dynamic sizes taken from different tensors")
    ref = like[0][1][0]
    return importer.result("expand_like", [v, ref], {"shape": shape, "like_dims": [[i, j] for i, (_, j) in like]})


@imports(aten.constant_pad_nd.default, aten.pad.default)
def _pad(importer, node, x, pad, mode="constant", value=None):
    if node.target is aten.constant_pad_nd.default:
        value, mode = mode if not isinstance(mode, str) else 0.0, "constant"
    pad = static_list(pad, "padding")
    rank = x.meta["val"].dim()
    pairs = [[0, 0] for _ in range(rank)]
    for i in range(len(pad) // 2):
        pairs[rank - 1 - i] = [pad[2 * i], pad[2 * i + 1]]
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise Unsupported(f"padding mode {mode!r} is not supported")
    return importer.result("pad", [importer.operand(x)], {"pads": pairs, "mode": mode,
                                                          "value": float(value or 0.0) if mode == "constant" else None})


@imports(aten.reflection_pad2d.default, aten.replication_pad2d.default, aten.reflection_pad1d.default,
         aten.replication_pad1d.default)
def _pad_mode(importer, node, x, pad):
    mode = "reflect" if "reflection" in str(node.target) else "replicate"
    return _pad(importer, node, x, pad, mode)


@imports(aten.roll.default)
def _roll(importer, node, x, shifts, dims=()):
    if not dims:
        raise Unsupported("roll without dims (over the flattened tensor) is not supported")
    return importer.result("roll", [importer.operand(x)],
                           {"shifts": static_list(as_ints(shifts), "roll shift"), "axes": as_ints(dims)})


@imports(aten.index.Tensor)
def _index(importer, node, x, indices):
    """x[i] along one axis: a gather; x[i, j, ...] on adjacent axes: one gather of the merged axes at the
    broadcast linear index i * size_j + j (torch's result shape: the broadcast index shape at the first axis)."""
    present = [i for i, t in enumerate(indices) if t is not None]
    if not present:
        return importer.operand(x)
    if present != list(range(present[0], present[-1] + 1)):
        raise Unsupported("indexing with index tensors on axes that are not adjacent is not supported")
    if any(indices[i].meta["val"].dtype not in (torch.int64, torch.int32) for i in present):
        raise Unsupported("indexing with a boolean mask is not supported")
    axis = present[0]
    linear = importer.operand(indices[axis], "i64")
    for i in present[1:]:
        size = static(x.meta["val"].shape[i], "the size of an indexed dimension")
        linear = importer.emit("add", [importer.emit("mul", [linear, importer.constant(int(size), "i64")]),
                                       importer.operand(indices[i], "i64")])
    v = importer.operand(x)
    if len(present) > 1:
        v = importer.emit("flatten", [v], {"start_axis": axis, "end_axis": present[-1]})
    return importer.result("gather", [v, linear], {"axis": axis})


@imports(aten.arange.default, aten.arange.start, aten.arange.start_step)
def _arange(importer, node, *args, **kwargs):
    """An arange of a dynamic length (a static one is folded): start + step * (cumsum of ones - 1), the ones
    expanded to the length of the value that carries that size."""
    start = args[0] if len(args) >= 2 else 0
    step = args[2] if len(args) >= 3 else 1
    if isinstance(start, torch.fx.Node) or isinstance(step, torch.fx.Node):
        raise Unsupported("arange with a dynamic start or step is not supported")
    found = importer.sym_source.get(sym_key(node.meta["val"].shape[0]))
    if found is None:
        raise Unsupported(f"cannot express the dynamic length {node.meta['val'].shape[0]} of arange")
    ref, dim = found
    ones = importer.emit("expand_like", [importer.constant([1], "i64", (1,)), ref],
                         {"shape": [1], "like_dims": [[0, dim]]})
    count = importer.emit("sub", [importer.emit("cumsum", [ones], {"axis": 0}), importer.constant(1, "i64")])
    want = importer.out_type().dtype
    number = float if want in FLOAT_DTYPES else int
    if step != 1:
        count = importer.emit("mul", [importer.cast(count, want), importer.constant(number(step), want)])
    if start != 0:
        count = importer.emit("add", [importer.cast(count, want), importer.constant(number(start), want)])
    count = importer.cast(count, want)
    importer.note_syms(count, node.meta["val"])
    return count


@imports(aten.index_select.default)
def _index_select(importer, node, x, dim, idx):
    return importer.result("gather", [importer.operand(x), importer.operand(idx)], {"axis": int(dim)})


@imports(aten.embedding.default)
def _embedding(importer, node, w, idx, padding_idx=-1, scale_grad=False, sparse=False):
    return importer.result("gather", [importer.operand(w), importer.operand(idx)], {"axis": 0})


@imports(aten.pixel_shuffle.default)
def _pixel_shuffle(importer, node, x, upscale_factor):
    r = upscale_factor
    _, c, h, w = [static_dim(d) for d in x.meta["val"].shape]
    if None in (c, h, w):
        raise Unsupported("pixel_shuffle with dynamic channel or spatial sizes")
    c2 = c // (r * r)
    y = importer.emit("reshape", [importer.operand(x)], {"shape": [0, c2, r, r, h, w]})
    y = importer.emit("transpose", [y], {"perm": [0, 1, 4, 2, 5, 3]})
    return importer.result("reshape", [y], {"shape": [0, c2, h * r, w * r]})


@imports(aten.gather.default)
def _gather_elements(importer, node, x, dim, index, sparse_grad=False):
    return importer.result("gather_elements", [importer.operand(x), importer.operand(index)], {"axis": int(dim)})


@imports(aten.repeat.default)
def _repeat(importer, node, x, repeats):
    repeats = static_list(repeats, "repeat count")
    v = importer.operand(x)
    extra = len(repeats) - v.type.rank
    if extra > 0:  # torch.Tensor.repeat adds leading dims
        v = importer.emit("unsqueeze", [v], {"axes": list(range(extra))})
    return importer.result("tile", [v], {"repeats": repeats})


@imports(aten.slice_scatter.default)
def _slice_scatter(importer, node, x, src, dim=0, start=None, end=None, step=1):
    """x with x[start:end] along dim replaced by src: the slices before and after, and src, joined."""
    rank = x.meta["val"].dim()
    dim = dim % rank
    size = static(x.meta["val"].shape[dim], "slice_scatter's dimension")
    s, e, st = _slice_bounds(importer, x, dim, start, end, step)
    s, e = (s + size if s < 0 else s), min(e + size if e < 0 else e, size)
    if st != 1:
        raise Unsupported("slice_scatter with a step is not supported")
    v, parts = importer.operand(x), []
    if s > 0:
        parts.append(importer.emit("slice", [v], {"axes": [dim], "starts": [0], "ends": [s]}))
    parts.append(importer.operand(src, v.type.dtype))
    if e < size:
        parts.append(importer.emit("slice", [v], {"axes": [dim], "starts": [e], "ends": [INT64_MAX]}))
    if len(parts) == 1:
        return parts[0]
    return importer.result("concat", parts, {"axis": dim})
