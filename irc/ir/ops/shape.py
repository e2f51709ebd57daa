"""Ops that move data without computing: concat, split, slice, reshape, flatten, transpose, pad, ..."""

from __future__ import annotations

from ..core import INT64_MAX
from .registry import ABSENT, Attr, ShapeError, define, dims_equal, norm_axis, prod, same_dtype


def infer_concat(ins, attrs):
    same_dtype(ins, "inputs")
    first = ins[0]
    axis = norm_axis(attrs["axis"], first.rank)
    total = 0
    for t in ins:
        if t.rank != first.rank:
            raise ShapeError(f"inputs have different ranks: {first} and {t}")
        for i, (p, q) in enumerate(zip(first.shape, t.shape)):
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
       doc="Joins its operands along `axis` (torch.cat).")


def infer_split(ins, attrs):
    x = ins[0]
    axis = norm_axis(attrs["axis"], x.rank)
    sizes = attrs["sizes"]
    if any(s < 0 for s in sizes):
        raise ShapeError(f"split sizes must not be negative: {sizes}")
    if x.shape[axis] is not None and sum(sizes) != x.shape[axis]:
        raise ShapeError(f"split sizes {sizes} add up to {sum(sizes)}, not {x.shape[axis]} (dimension {axis} of {x})")
    out = []
    for s in sizes:
        shape = list(x.shape)
        shape[axis] = s
        out.append(x.with_shape(shape))
    return out


define("split", "shape", ("input",), [Attr("axis", "int"), Attr("sizes", "ints")], infer_split,
       num_results=lambda attrs: len(attrs.get("sizes") or []), axis_attrs=("axis",),
       doc="Splits along `axis` into pieces of the given sizes; one result per piece.")



def infer_slice(ins, attrs):
    x = ins[0]
    axes, starts, ends = attrs["axes"], attrs["starts"], attrs["ends"]
    steps = attrs.get("steps") or [1] * len(axes)
    if not len(axes) == len(starts) == len(ends) == len(steps):
        raise ShapeError("axes, starts, ends and steps must have the same length")
    shape = list(x.shape)
    seen = set()
    for a, s, e, st in zip(axes, starts, ends, steps):
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


define("slice", "shape", ("input",),
       [Attr("axes", "ints"), Attr("starts", "ints"), Attr("ends", "ints"), Attr("steps", "ints", ABSENT)],
       infer_slice, axis_attrs=("axes",),
       doc="x[starts:ends:steps] along `axes`, with Python's clamping of out-of-range and negative bounds.")


def infer_reshape(ins, attrs):
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


define("reshape", "shape", ("input",), [Attr("shape", "ints", doc="-1 once for an inferred dim, 0 copies the input dim")],
       infer_reshape,
       doc="Reshapes (torch.reshape); in `shape`, -1 stands for the one inferred dim and 0 copies the input's dim at that index.")


def infer_flatten(ins, attrs):
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


define("flatten", "shape", ("input",), [Attr("start_axis", "int", 1), Attr("end_axis", "int", -1)], infer_flatten,
       axis_attrs=("start_axis", "end_axis"), doc="Merges dimensions start_axis..end_axis into one (torch.flatten).")


def infer_transpose(ins, attrs):
    x, perm = ins[0], attrs["perm"]
    if sorted(perm) != list(range(x.rank)):
        raise ShapeError(f"perm {perm} is not a permutation of 0..{x.rank - 1} (input {x})")
    return x.with_shape([x.shape[p] for p in perm])


define("transpose", "shape", ("input",), [Attr("perm", "ints")], infer_transpose,
       doc="Permutes dimensions: result dim i is input dim perm[i] (torch.permute).")


def infer_pad(ins, attrs):
    x, pads = ins[0], attrs["pads"]
    if len(pads) != x.rank:
        raise ShapeError(f"pads has {len(pads)} [begin, end] pairs, input {x} has rank {x.rank}")
    out = []
    for d, (b, e) in zip(x.shape, pads):
        if d is not None and d + b + e < 0:
            raise ShapeError(f"pads {pads} crop more than {x} holds")
        out.append(None if d is None else d + b + e)
    if attrs["mode"] != "constant" and any(b < 0 or e < 0 for b, e in pads):
        raise ShapeError(f"{attrs['mode']} padding must not be negative")
    return x.with_shape(out)


define("pad", "shape", ("input",),
       [Attr("pads", "pairs", doc="[begin, end] for every dimension, outermost first"),
        Attr("mode", "enum", "constant", ("constant", "reflect", "replicate", "circular")),
        Attr("value", "float", 0.0)],
       infer_pad, axis_attrs=("pads",),
       doc="Pads (or, with negative amounts, crops) every dimension; `value` fills in constant mode.")


def infer_squeeze(ins, attrs):
    x = ins[0]
    axes = {norm_axis(a, x.rank) for a in attrs["axes"]}
    for a in axes:
        if x.shape[a] not in (1, None):
            raise ShapeError(f"cannot squeeze dimension {a} of {x}: it is not 1")
    return x.with_shape([d for i, d in enumerate(x.shape) if i not in axes])


define("squeeze", "shape", ("input",), [Attr("axes", "ints")], infer_squeeze, axis_attrs=("axes",),
       doc="Removes the given dimensions of size 1.")


def infer_unsqueeze(ins, attrs):
    x = ins[0]
    rank = x.rank + len(attrs["axes"])
    axes = sorted(norm_axis(a, rank) for a in attrs["axes"])
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return x.with_shape(shape)


define("unsqueeze", "shape", ("input",), [Attr("axes", "ints")], infer_unsqueeze,
       doc="Inserts dimensions of size 1 at `axes` (positions in the result).")


def infer_expand(ins, attrs):
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


define("expand", "shape", ("input",), [Attr("shape", "ints", doc="-1 keeps the input's dim")], infer_expand,
       doc="Broadcasts to `shape` without copying (torch.Tensor.expand).")


def infer_roll(ins, attrs):
    x = ins[0]
    if len(attrs["shifts"]) != len(attrs["axes"]) or not attrs["axes"]:
        raise ShapeError("shifts and axes must have the same, non-zero length")
    axes = [norm_axis(a, x.rank) for a in attrs["axes"]]
    if len(set(axes)) != len(axes):
        raise ShapeError(f"axes {attrs['axes']} name a dimension twice")
    return x


define("roll", "shape", ("input",), [Attr("shifts", "ints"), Attr("axes", "ints")], infer_roll, axis_attrs=("axes",),
       doc="Rotates elements along `axes` by `shifts` (torch.roll): element i moves to (i + shift) mod size.")


def infer_gather(ins, attrs):
    x, idx = ins
    if idx.dtype not in ("i32", "i64"):
        raise ShapeError(f"indices must be i32 or i64, got {idx}")
    if x.rank == 0:
        raise ShapeError("cannot gather from a rank-0 tensor")
    axis = norm_axis(attrs["axis"], x.rank)
    return x.with_shape(x.shape[:axis] + idx.shape + x.shape[axis + 1:])


define("gather", "shape", ("input", "indices"), [Attr("axis", "int", 0)], infer_gather,
       doc="Picks slices of `input` along `axis` at `indices` (any shape): the result's shape is "
           "input.shape[:axis] + indices.shape + input.shape[axis+1:] (ONNX Gather, x[idx] for axis 0).")


def infer_expand_like(ins, attrs):
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
       infer_expand_like,
       doc="nn.expand whose result takes some sizes from another value (a dynamic batch, for instance): "
           "for each [i, j] in like_dims, result dim i is like.shape[j].")
