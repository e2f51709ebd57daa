"""Normalisation and softmax."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..core import Op, TensorType
from .registry import Attr, ShapeError, define, dims_equal, need_float, norm_axis, same_dtype, static_numel


def infer_batch_norm(ins: list[TensorType], attrs: dict) -> TensorType:
    x = ins[0]
    same_dtype(ins)
    need_float(x)
    if x.rank < 2:
        raise ShapeError(f"input must have rank 2 or more, got {x}")
    c = x.shape[1] if attrs["layout"] == "nchw" else x.shape[-1]
    for name, t in zip(("weight", "bias", "running_mean", "running_var"), ins[1:], strict=False):
        if t.rank != 1 or not dims_equal(t.shape[0], c):
            raise ShapeError(f"{name} must be tensor<{c}x{x.dtype}>, got {t}")
    if attrs["epsilon"] <= 0:
        raise ShapeError(f"epsilon must be positive, got {attrs['epsilon']}")
    return x


def batch_norm_affine(arrays: list, attrs: dict) -> tuple:
    """scale = weight / sqrt(running_var + epsilon), shift = bias - running_mean * scale (float64)."""
    gamma, beta, mean, var = (a.astype(np.float64) for a in arrays)
    scale = gamma / np.sqrt(var + attrs["epsilon"])
    return scale, beta - mean * scale


def per_element_flops(count: int) -> Callable:
    """A FLOP rule: `count` FLOPs per output element."""
    def flops(op: Op) -> int:
        return count * static_numel(op.results[0].type)
    return flops


define("batch_norm", "norm", ("input", "weight", "bias", "running_mean", "running_var"),
       [Attr("epsilon", "float")], infer_batch_norm, spatial=True,
       params=("weight", "bias", "running_mean", "running_var"), traits=("per_channel_affine",),
       flops=per_element_flops(2), rules={"channel_affine": batch_norm_affine},
       doc="Inference-mode batch normalisation over the channel dimension (axis 1, or the last for nhwc).")


def infer_layer_norm(ins: list[TensorType], attrs: dict) -> TensorType:
    x = ins[0]
    same_dtype(ins)
    need_float(x)
    axes = sorted(norm_axis(a, x.rank, "axis") for a in attrs["axes"])
    if len(set(axes)) != len(axes) or not axes:
        raise ShapeError(f"axes {attrs['axes']} must be distinct and not empty")
    shape = tuple(x.shape[a] for a in axes)
    for name, t in zip(("weight", "bias"), ins[1:], strict=False):
        if t.rank != len(shape) or not all(dims_equal(p, q) for p, q in zip(t.shape, shape, strict=False)):
            raise ShapeError(f"{name} {t} does not match the normalised dimensions {list(shape)}")
    return x


define("layer_norm", "norm", ("input", "weight?", "bias?"),
       [Attr("axes", "ints", doc="the normalised axes; PyTorch's layer_norm uses the trailing ones"),
        Attr("epsilon", "float", 1e-05)],
       infer_layer_norm, axis_attrs=("axes",), params=("weight", "bias"), traits=("params_per_axis",),
       flops=per_element_flops(5),
       doc="Layer normalisation over `axes` with an optional element-wise affine transform.")


def infer_group_norm(ins: list[TensorType], attrs: dict) -> TensorType:
    x = ins[0]
    need_float(x)
    if x.rank < 2:
        raise ShapeError(f"input must have rank 2 or more, got {x}")
    c, g = x.shape[1], attrs["num_groups"]
    if g <= 0 or (c is not None and c % g):
        raise ShapeError(f"{c} channels cannot be split into {g} groups")
    for name, t in zip(("weight", "bias"), ins[1:], strict=False):
        if t.rank != 1 or not dims_equal(t.shape[0], c):
            raise ShapeError(f"{name} must be tensor<{c}x{x.dtype}>, got {t}")
    return x


define("group_norm", "norm", ("input", "weight?", "bias?"),
       [Attr("num_groups", "int"), Attr("epsilon", "float", 1e-05)], infer_group_norm, params=("weight", "bias"),
       flops=per_element_flops(5),
       doc="Group normalisation over channel groups (axis 1).")


def infer_softmax(ins: list[TensorType], attrs: dict) -> TensorType:
    need_float(ins[0])
    norm_axis(attrs["axis"], ins[0].rank)
    return ins[0]


define("softmax", "norm", ("input",), [Attr("axis", "int")], infer_softmax, axis_attrs=("axis",),
       flops=per_element_flops(5),
       doc="exp(x) / sum(exp(x)) along `axis`.")
define("log_softmax", "norm", ("input",), [Attr("axis", "int")], infer_softmax, axis_attrs=("axis",),
       flops=per_element_flops(5),
       doc="log(softmax(x)) along `axis`.")
