"""Normalisation and softmax."""

from __future__ import annotations

from .conv import split_nchw
from .registry import Attr, ShapeError, define, dims_equal, need_float, norm_axis, same_dtype


def infer_batch_norm(ins, attrs):
    x = ins[0]
    same_dtype(ins)
    need_float(x)
    if attrs["layout"] == "nchw":
        if x.rank < 2:
            raise ShapeError(f"input must have rank 2 or more, got {x}")
        c = x.shape[1]
    else:
        c = split_nchw(x, "nhwc")[1]
    for name, t in zip(("weight", "bias", "running_mean", "running_var"), ins[1:]):
        if t.rank != 1 or not dims_equal(t.shape[0], c):
            raise ShapeError(f"{name} must be tensor<{c}x{x.dtype}>, got {t}")
    if attrs["epsilon"] <= 0:
        raise ShapeError(f"epsilon must be positive, got {attrs['epsilon']}")
    return x


define("batch_norm", "norm", ("input", "weight", "bias", "running_mean", "running_var"),
       [Attr("epsilon", "float")], infer_batch_norm, spatial=True,
       params=("weight", "bias", "running_mean", "running_var"),
       doc="Inference-mode batch normalisation over the channel dimension (axis 1, or the last for nhwc).")


def infer_layer_norm(ins, attrs):
    x = ins[0]
    same_dtype(ins)
    need_float(x)
    axes = sorted(norm_axis(a, x.rank, "axis") for a in attrs["axes"])
    if len(set(axes)) != len(axes) or not axes:
        raise ShapeError(f"axes {attrs['axes']} must be distinct and not empty")
    shape = tuple(x.shape[a] for a in axes)
    for name, t in zip(("weight", "bias"), ins[1:]):
        if t.rank != len(shape) or not all(dims_equal(p, q) for p, q in zip(t.shape, shape)):
            raise ShapeError(f"{name} {t} does not match the normalised dimensions {list(shape)}")
    return x


define("layer_norm", "norm", ("input", "weight?", "bias?"),
       [Attr("axes", "ints", doc="the normalised axes; PyTorch's layer_norm uses the trailing ones"),
        Attr("epsilon", "float", 1e-05)],
       infer_layer_norm, axis_attrs=("axes",), params=("weight", "bias"),
       doc="Layer normalisation over `axes` with an optional element-wise affine transform.")


def infer_group_norm(ins, attrs):
    x = ins[0]
    need_float(x)
    if x.rank < 2:
        raise ShapeError(f"input must have rank 2 or more, got {x}")
    c, g = x.shape[1], attrs["num_groups"]
    if g <= 0 or (c is not None and c % g):
        raise ShapeError(f"{c} channels cannot be split into {g} groups")
    for name, t in zip(("weight", "bias"), ins[1:]):
        if t.rank != 1 or not dims_equal(t.shape[0], c):
            raise ShapeError(f"{name} must be tensor<{c}x{x.dtype}>, got {t}")
    return x


define("group_norm", "norm", ("input", "weight?", "bias?"),
       [Attr("num_groups", "int"), Attr("epsilon", "float", 1e-05)], infer_group_norm, params=("weight", "bias"),
       doc="Group normalisation over channel groups (axis 1).")


def infer_softmax(ins, attrs):
    need_float(ins[0])
    norm_axis(attrs["axis"], ins[0].rank)
    return ins[0]


define("softmax", "norm", ("input",), [Attr("axis", "int")], infer_softmax, axis_attrs=("axis",),
       doc="exp(x) / sum(exp(x)) along `axis`.")
define("log_softmax", "norm", ("input",), [Attr("axis", "int")], infer_softmax, axis_attrs=("axis",),
       doc="log(softmax(x)) along `axis`.")
