"""Ops that move data without computing: concat, split, slice, reshape, flatten, transpose, pad, ..."""

from __future__ import annotations

import math

from ..core import INT64_MAX, Op, TensorType
from ..dense import element_problem
from ..dtypes import FLOAT_DTYPES
from .registry import (
    ABSENT,
    OPS,
    Attr,
    PatternRewriter,
    ShapeError,
    carried_dims,
    define,
    dims_equal,
    norm_axis,
    prod,
    same_dtype,
)

MOVEMENT = ("movement",)
RESHAPE = ("movement", "reshape")
BIG = 2**31 - 1  # a slice end at least this large means "to the end" (ONNX writes INT32_MAX or INT64_MAX)


def drop_single_operand(op: Op, rewriter: PatternRewriter) -> bool:
    """An op that joins a single operand returns it."""
    return len(op.operands) == 1 and rewriter.forward(op, op.operands[0])


def infer_concat(ins: list[TensorType], attrs: dict) -> TensorType:
    same_dtype(ins, "inputs")
    first = ins[0]
    axis = norm_axis(attrs["axis"], first.rank)
    total = 0
    for t in ins:
        if t.rank != first.rank:
            raise ShapeError(f"inputs have different ranks: {first} and {t}")
        for i, (p, q) in enumerate(zip(first.shape, t.shape, strict=False)):
            if i != axis and not dims_equal(p, q):
                raise ShapeError(f"inputs differ in dimension {i}, not the concat axis {axis}: {first} and {t}")
        total = None if total is None or t.shape[axis] is None else total + t.shape[axis]
    shape = list(first.shape)
    shape[axis] = total
    if total is None:  # fall back to whatever static dims the inputs agree on
        shape = [next((t.shape[i] for t in ins if t.shape[i] is not None), None) if i != axis else None
                 for i in range(first.rank)]
    return first.with_shape(shape)


define("concat", "shape", ("inputs*",), [Attr("axis", "int")], infer_concat, axis_attrs=("axis",),
       traits=MOVEMENT, canonical=(drop_single_operand,),
       doc="Joins its operands along `axis` (torch.cat).")


def infer_split(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    x = ins[0]
    axis = norm_axis(attrs["axis"], x.rank)
    sizes = attrs["sizes"]
    if any(s < 0 for s in sizes):
        raise ShapeError(f"split sizes must not be negative: {sizes}")
    if x.shape[axis] is not None and sum(sizes) != x.shape[axis]:
        raise ShapeError(f"split sizes {sizes} add up to {sum(sizes)}, not {x.shape[axis]} (dimension {axis} of {x})")
    return [x.with_shape(x.shape[:axis] + (s,) + x.shape[axis + 1:]) for s in sizes]


def drop_single_piece(op: Op, rewriter: PatternRewriter) -> bool:
    """A split into one piece returns its operand."""
    return len(op.results) == 1 and rewriter.forward(op, op.operands[0])


define("split", "shape", ("input",), [Attr("axis", "int"), Attr("sizes", "ints")], infer_split,
       num_results=lambda attrs: len(attrs.get("sizes") or []), axis_attrs=("axis",),
       traits=MOVEMENT, canonical=(drop_single_piece,),
       doc="Splits along `axis` into pieces of the given sizes; one result per piece.")


def infer_slice(ins: list[TensorType], attrs: dict) -> TensorType:
    x = ins[0]
    axes, starts, ends = attrs["axes"], attrs["starts"], attrs["ends"]
    steps = attrs.get("steps") or [1] * len(axes)
    if not len(axes) == len(starts) == len(ends) == len(steps):
        raise ShapeError("axes, starts, ends and steps must have the same length")
    shape = list(x.shape)
    seen = set()
    for a, s, e, st in zip(axes, starts, ends, steps, strict=False):
        a = norm_axis(a, x.rank)
        if a in seen:
            raise ShapeError(f"axis {a} is sliced twice")
        seen.add(a)
        if st <= 0:
            raise ShapeError(f"slice steps must be positive, got {st}")
        n = x.shape[a]
        if n is None:
            shape[a] = None if (e >= INT64_MAX or e < 0 or s < 0) else max(0, -(-(e - s) // st))
            continue
        s2 = min(max(s + n if s < 0 else s, 0), n)
        e2 = min(max(e + n if e < 0 else e, 0), n)
        shape[a] = max(0, -(-(e2 - s2) // st))
    return x.with_shape(shape)


def _full_slice(t: TensorType, attrs: dict) -> bool:
    steps = attrs.get("steps") or [1] * len(attrs["axes"])
    for ax, s, e, st in zip(attrs["axes"], attrs["starts"], attrs["ends"], steps, strict=False):
        n = t.shape[ax % t.rank]
        if st != 1:
            return False
        if n is None:
            if s != 0 or e < BIG:
                return False
        elif not ((s == 0 or s <= -n) and e >= n):
            return False
    return True


def drop_full_slice(op: Op, rewriter: PatternRewriter) -> bool:
    """A slice of the whole range of every axis is dropped."""
    x = op.operands[0]
    return x.type == op.result.type and _full_slice(x.type, op.attrs) and rewriter.forward(op, x)


define("slice", "shape", ("input",),
       [Attr("axes", "ints"), Attr("starts", "ints"), Attr("ends", "ints"), Attr("steps", "ints", ABSENT)],
       infer_slice, axis_attrs=("axes",), traits=MOVEMENT, canonical=(drop_full_slice,),
       doc="x[starts:ends:steps] along `axes`, with Python's clamping of out-of-range and negative bounds.")


def infer_reshape(ins: list[TensorType], attrs: dict) -> TensorType:
    x = ins[0]
    target = attrs["shape"]
    if sum(1 for d in target if d == -1) > 1:
        raise ShapeError(f"shape {target} has more than one -1")
    if any(d < -1 for d in target):
        raise ShapeError(f"shape {target} has a negative entry other than -1")
    out = []
    for i, d in enumerate(target):
        if d == 0:
            if i >= x.rank:
                raise ShapeError(f"shape {target}: 0 at position {i} copies a dimension {x} does not have")
            out.append(x.shape[i])
        else:
            out.append(d)
    known = [d for d in out if d not in (-1, None)]
    total = x.numel()
    if -1 in out:
        if total is None:
            # Dynamic input: -1 is still static when every dynamic input dim is copied by a 0.
            copied = {i for i, d in enumerate(target) if d == 0}
            missing = None
            if all(i in copied for i, d in enumerate(x.shape) if d is None):
                rest = prod(d for i, d in enumerate(x.shape) if i not in copied)
                other = prod(d for i, d in enumerate(out) if i not in copied and d != -1)
                if other and rest % other == 0:
                    missing = rest // other
            out[out.index(-1)] = missing
        else:
            p = prod(known)
            if p == 0 or total % p:
                raise ShapeError(f"cannot reshape {x} ({total} elements) to {target}")
            out[out.index(-1)] = total // p
    elif total is not None and None not in out and prod(out) != total:
        raise ShapeError(f"cannot reshape {x} ({total} elements) to {target} ({prod(out)} elements)")
    return x.with_shape(out)


def reshape_target(x: TensorType, r: TensorType, carried: dict) -> list | None:
    """A reshape `shape` attribute turning type x into type r, or None. carried: {r dim: x dim} known equal."""
    target, minus = [], 0
    for i, d in enumerate(r.shape):
        if d is not None:
            target.append(d)
        elif carried.get(i) == i and i < x.rank:
            target.append(0)
        else:
            target.append(-1)
            minus += 1
    if minus > 1:
        return None
    if minus == 1 and x.is_static:
        return None  # cannot happen for a consistent type, but stay safe
    try:
        if infer_reshape([x], {"shape": target}) != r:
            return None
    except ShapeError:
        return None
    return target


def drop_identity_reshape(op: Op, rewriter: PatternRewriter) -> bool:
    """A reshape-like op whose result has its operand's type, every dim accounted for, is dropped."""
    x, r = op.operands[0].type, op.result.type
    if x != r:
        return False
    carried = carried_dims(op)
    # equal types: the one dim not known to be carried over must match too, by element count
    if sum(1 for i, d in enumerate(r.shape) if d is None and carried.get(i) != i) > 1:
        return False
    return rewriter.forward(op, op.operands[0])


def merge_reshapes(op: Op, rewriter: PatternRewriter) -> bool:
    """A chain of two reshape-like ops becomes one reshape when the result can be written as one."""
    inner = op.operands[0].owner
    if inner is None or not OPS[inner.name].has("reshape") or rewriter.is_erased(inner):
        return False
    outer_map, inner_map = carried_dims(op), carried_dims(inner)
    carried = {o: inner_map[m] for o, m in outer_map.items() if m in inner_map}
    src = inner.operands[0]
    target = reshape_target(src.type, op.result.type, carried)
    return target is not None and rewriter.rebuild(op, [src], {"shape": target}, "nn.reshape")


RESHAPE_PATTERNS = (drop_identity_reshape, merge_reshapes)


def reshape_dim_map(op: Op) -> dict:
    """The dims a 0 in `shape` copies."""
    return {i: i for i, d in enumerate(op.attrs["shape"]) if d == 0}


def reshape_merged_dims(op: Op) -> tuple | None:
    """(k, rank - 1) when the reshape only flattens the trailing dims from k on (leading dims provably kept)."""
    x, r = op.operands[0].type, op.result.type
    k = r.rank - 1
    if r.rank >= x.rank or r.rank == 0 or r.shape[:k] != x.shape[:k]:
        return None
    tail = x.shape[k:]
    if None in tail or r.shape[-1] != prod(tail):
        return None
    unknown = sum(1 for i in range(k) if x.shape[i] is None and op.attrs["shape"][i] != 0)
    return (k, x.rank - 1) if unknown <= 1 else None


define("reshape", "shape", ("input",),
       [Attr("shape", "ints", doc="-1 once for an inferred dim, 0 copies the input dim")],
       infer_reshape, traits=RESHAPE, canonical=RESHAPE_PATTERNS,
       rules={"dim_map": reshape_dim_map, "merged_dims": reshape_merged_dims},
       doc="Reshapes (torch.reshape); in `shape`, -1 stands for the one inferred dim and 0 copies the input's dim "
           "at that index.")


def infer_flatten(ins: list[TensorType], attrs: dict) -> TensorType:
    x = ins[0]
    if x.rank == 0:
        return x.with_shape((1,))
    s = norm_axis(attrs["start_axis"], x.rank, "start_axis")
    e = norm_axis(attrs["end_axis"], x.rank, "end_axis")
    if s > e:
        raise ShapeError(f"start_axis {s} is after end_axis {e}")
    mid = x.shape[s:e + 1]
    n = None if None in mid else prod(mid)
    return x.with_shape(x.shape[:s] + (n,) + x.shape[e + 1:])


def flatten_merged_dims(op: Op) -> tuple | None:
    x = op.operands[0].type
    if x.rank == 0:
        return None
    return op.attrs["start_axis"] % x.rank, op.attrs["end_axis"] % x.rank


def flatten_dim_map(op: Op) -> dict:
    """The dims before and after the merged ones (and the merged one when it is a single dim)."""
    x, r = op.operands[0].type, op.result.type
    if x.rank == 0:
        return {}
    s, e = flatten_merged_dims(op)
    carried = {i: i for i in range(s)}
    carried.update({i: i + (e - s) for i in range(s + 1, r.rank)})
    if s == e:
        carried[s] = s
    return carried


define("flatten", "shape", ("input",), [Attr("start_axis", "int", 1), Attr("end_axis", "int", -1)], infer_flatten,
       axis_attrs=("start_axis", "end_axis"), traits=RESHAPE, canonical=RESHAPE_PATTERNS,
       rules={"dim_map": flatten_dim_map, "merged_dims": flatten_merged_dims},
       doc="Merges dimensions start_axis..end_axis into one (torch.flatten).")


def infer_transpose(ins: list[TensorType], attrs: dict) -> TensorType:
    x, perm = ins[0], attrs["perm"]
    if sorted(perm) != list(range(x.rank)):
        raise ShapeError(f"perm {perm} is not a permutation of 0..{x.rank - 1} (input {x})")
    return x.with_shape([x.shape[p] for p in perm])


def drop_identity_transpose(op: Op, rewriter: PatternRewriter) -> bool:
    perm = op.attrs["perm"]
    return perm == list(range(len(perm))) and rewriter.forward(op, op.operands[0])


def merge_transposes(op: Op, rewriter: PatternRewriter) -> bool:
    """transpose(transpose(x)) becomes one transpose, or x when the permutations cancel."""
    inner = op.operands[0].owner
    if inner is None or inner.name != op.name or rewriter.is_erased(inner):
        return False
    first = inner.attrs["perm"]
    composed = [first[p] for p in op.attrs["perm"]]
    if composed == list(range(len(composed))):
        return rewriter.forward(op, inner.operands[0])
    return rewriter.rebuild(op, [inner.operands[0]], {"perm": composed})


define("transpose", "shape", ("input",), [Attr("perm", "ints")], infer_transpose,
       traits=MOVEMENT + ("transpose",), canonical=(drop_identity_transpose, merge_transposes),
       doc="Permutes dimensions: result dim i is input dim perm[i] (torch.permute).")


def infer_pad(ins: list[TensorType], attrs: dict) -> TensorType:
    x, pads = ins[0], attrs["pads"]
    if len(pads) != x.rank:
        raise ShapeError(f"pads has {len(pads)} [begin, end] pairs, input {x} has rank {x.rank}")
    out = []
    for d, (b, e) in zip(x.shape, pads, strict=False):
        if d is not None and d + b + e < 0:
            raise ShapeError(f"pads {pads} crop more than {x} holds")
        out.append(None if d is None else d + b + e)
    if attrs["mode"] != "constant" and any(b < 0 or e < 0 for b, e in pads):
        raise ShapeError(f"{attrs['mode']} padding must not be negative")
    problem = element_problem(attrs["value"] if x.dtype in FLOAT_DTYPES else _as_int(attrs["value"]), x.dtype)
    if problem and x.dtype != "i1":
        raise ShapeError(f"attribute 'value': {problem}")
    return x.with_shape(out)


def _as_int(v: float) -> object:
    return int(v) if math.isfinite(v) and v == int(v) else v


def drop_zero_pad(op: Op, rewriter: PatternRewriter) -> bool:
    return all(b == 0 and e == 0 for b, e in op.attrs["pads"]) and rewriter.forward(op, op.operands[0])


define("pad", "shape", ("input",),
       [Attr("pads", "pairs", doc="[begin, end] for every dimension, outermost first"),
        Attr("mode", "enum", "constant", ("constant", "reflect", "replicate", "circular")),
        Attr("value", "float", 0.0)],
       infer_pad, axis_attrs=("pads",), traits=MOVEMENT, canonical=(drop_zero_pad,),
       doc="Pads (or, with negative amounts, crops) every dimension; `value` fills in constant mode.")


def infer_squeeze(ins: list[TensorType], attrs: dict) -> TensorType:
    x = ins[0]
    axes = {norm_axis(a, x.rank) for a in attrs["axes"]}
    for a in axes:
        if x.shape[a] not in (1, None):
            raise ShapeError(f"cannot squeeze dimension {a} of {x}: it is not 1")
    return x.with_shape([d for i, d in enumerate(x.shape) if i not in axes])


def squeeze_dim_map(op: Op) -> dict:
    """Every dim but the squeezed ones."""
    x = op.operands[0].type
    axes = {ax % x.rank for ax in op.attrs["axes"]}
    return dict(enumerate(i for i in range(x.rank) if i not in axes))


define("squeeze", "shape", ("input",), [Attr("axes", "ints")], infer_squeeze, axis_attrs=("axes",),
       traits=RESHAPE, canonical=RESHAPE_PATTERNS, rules={"dim_map": squeeze_dim_map},
       doc="Removes the given dimensions of size 1.")


def infer_unsqueeze(ins: list[TensorType], attrs: dict) -> TensorType:
    x = ins[0]
    rank = x.rank + len(attrs["axes"])
    axes = sorted(norm_axis(a, rank) for a in attrs["axes"])
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return x.with_shape(shape)


def unsqueeze_dim_map(op: Op) -> dict:
    """Every result dim but the inserted ones."""
    r = op.result.type
    axes = {ax % r.rank for ax in op.attrs["axes"]}
    return {o: i for i, o in enumerate(i for i in range(r.rank) if i not in axes)}


define("unsqueeze", "shape", ("input",), [Attr("axes", "ints")], infer_unsqueeze,
       traits=RESHAPE, canonical=RESHAPE_PATTERNS, rules={"dim_map": unsqueeze_dim_map},
       doc="Inserts dimensions of size 1 at `axes` (positions in the result).")


def infer_expand(ins: list[TensorType], attrs: dict) -> TensorType:
    x, target = ins[0], attrs["shape"]
    if len(target) < x.rank:
        raise ShapeError(f"cannot expand {x} to fewer dimensions {target}")
    lead = len(target) - x.rank
    out = []
    for i, t in enumerate(target):
        d = x.shape[i - lead] if i >= lead else 1
        if t == -1:
            if i < lead:
                raise ShapeError(f"-1 in expand shape {target} at a new dimension")
            out.append(d)
        elif d not in (1, None, t):
            raise ShapeError(f"cannot expand dimension {i} of {x} from {d} to {t}")
        else:
            out.append(t)
    return x.with_shape(out)


def drop_noop_expand(op: Op, rewriter: PatternRewriter) -> bool:
    """An expand to the operand's own shape is dropped."""
    x, shape = op.operands[0], op.attrs["shape"]
    return (x.type == op.result.type and len(shape) == x.type.rank
            and all(t == -1 or t == d for t, d in zip(shape, x.type.shape, strict=True)) and rewriter.forward(op, x))


define("expand", "shape", ("input",), [Attr("shape", "ints", doc="-1 keeps the input's dim")], infer_expand,
       traits=MOVEMENT, canonical=(drop_noop_expand,),
       doc="Broadcasts to `shape` without copying (torch.Tensor.expand).")


def infer_roll(ins: list[TensorType], attrs: dict) -> TensorType:
    x = ins[0]
    if len(attrs["shifts"]) != len(attrs["axes"]) or not attrs["axes"]:
        raise ShapeError("shifts and axes must have the same, non-zero length")
    axes = [norm_axis(a, x.rank) for a in attrs["axes"]]
    if len(set(axes)) != len(axes):
        raise ShapeError(f"axes {attrs['axes']} name a dimension twice")
    return x


define("roll", "shape", ("input",), [Attr("shifts", "ints"), Attr("axes", "ints")], infer_roll, axis_attrs=("axes",),
       traits=MOVEMENT,
       doc="Rotates elements along `axes` by `shifts` (torch.roll): element i moves to (i + shift) mod size.")


def infer_gather(ins: list[TensorType], attrs: dict) -> TensorType:
    x, idx = ins
    if idx.dtype not in ("i32", "i64"):
        raise ShapeError(f"indices must be i32 or i64, got {idx}")
    if x.rank == 0:
        raise ShapeError("cannot gather from a rank-0 tensor")
    axis = norm_axis(attrs["axis"], x.rank)
    return x.with_shape(x.shape[:axis] + idx.shape + x.shape[axis + 1:])


define("gather", "shape", ("input", "indices"), [Attr("axis", "int", 0)], infer_gather, traits=MOVEMENT,
       doc="Picks slices of `input` along `axis` at `indices` (any shape): the result's shape is "
           "input.shape[:axis] + indices.shape + input.shape[axis+1:] (ONNX Gather, x[idx] for axis 0).")


def infer_expand_like(ins: list[TensorType], attrs: dict) -> TensorType:
    x, like = ins
    out = list(infer_expand([x], {"shape": attrs["shape"]}).shape)
    for pair in attrs["like_dims"]:
        i, j = pair
        if not 0 <= i < len(out):
            raise ShapeError(f"like_dims entry {pair}: result dimension {i} is out of range for rank {len(out)}")
        j = norm_axis(j, like.rank, "like_dims axis")
        lead = len(out) - x.rank
        d = x.shape[i - lead] if i >= lead else 1
        if d not in (1, None) and not dims_equal(d, like.shape[j]):
            raise ShapeError(f"cannot expand dimension {i} of {x} to dimension {j} of {like}")
        out[i] = like.shape[j]
    return x.with_shape(out)


define("expand_like", "shape", ("input", "like"),
       [Attr("shape", "ints", doc="as nn.expand: -1 keeps the input's dim"),
        Attr("like_dims", "pairs", doc="[[i, j], ...]: result dim i is dim j of `like`")],
       infer_expand_like, traits=MOVEMENT,
       doc="nn.expand whose result takes some sizes from another value (a dynamic batch, for instance): "
           "for each [i, j] in like_dims, result dim i is like.shape[j].")


def infer_gather_elements(ins: list[TensorType], attrs: dict) -> TensorType:
    x, idx = ins
    if idx.dtype not in ("i32", "i64") or idx.rank != x.rank:
        raise ShapeError(f"indices must be i32 or i64 of the input's rank ({x}), got {idx}")
    norm_axis(attrs["axis"], x.rank)
    return x.with_shape(idx.shape)


define("gather_elements", "shape", ("input", "indices"), [Attr("axis", "int")], infer_gather_elements,
       traits=MOVEMENT, doc="out[i][j][k] = input[indices[i][j][k]][j][k] for axis 0 (and so on): one element per "
                            "index, the result has the indices' shape (torch.gather, ONNX GatherElements).")


def infer_tile(ins: list[TensorType], attrs: dict) -> TensorType:
    x, repeats = ins[0], attrs["repeats"]
    if len(repeats) != x.rank or any(r < 0 for r in repeats):
        raise ShapeError(f"repeats {repeats} must be one count (0 or more) per dimension of {x}")
    return x.with_shape([None if d is None else d * r for d, r in zip(x.shape, repeats, strict=True)])


define("tile", "shape", ("input",), [Attr("repeats", "ints", doc="one count per dimension")], infer_tile,
       traits=MOVEMENT, doc="Repeats the tensor `repeats[i]` times along each dim i (Tensor.repeat, ONNX Tile).")
