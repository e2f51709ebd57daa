"""Reductions over axes."""

from __future__ import annotations

from ..core import Op, TensorType
from .registry import Attr, ShapeError, define, input_flops, norm_axis


def infer_reduce(ins: list[TensorType], attrs: dict) -> TensorType:
    x = ins[0]
    axes = {norm_axis(a, x.rank) for a in attrs["axes"]}
    if len(axes) != len(attrs["axes"]):
        raise ShapeError(f"axes {attrs['axes']} name a dimension twice")
    if attrs["keepdims"]:
        return x.with_shape([1 if i in axes else d for i, d in enumerate(x.shape)])
    return x.with_shape([d for i, d in enumerate(x.shape) if i not in axes])


def reduce_dim_map(op: Op) -> dict:
    """{result dim: input dim} for the dims not reduced."""
    rank = op.operands[0].type.rank
    axes = {ax % rank for ax in op.attrs["axes"]}
    kept = [i for i in range(rank) if i not in axes]
    if op.attrs["keepdims"]:
        return {i: i for i in kept}
    return dict(enumerate(kept))


for _name, _doc in {"mean": "Mean", "sum": "Sum", "reduce_max": "Maximum", "reduce_min": "Minimum"}.items():
    define(_name, "reduce", ("input",), [Attr("axes", "ints"), Attr("keepdims", "bool", False)], infer_reduce,
           axis_attrs=("axes",), flops=input_flops, rules={"dim_map": reduce_dim_map},
           doc=f"{_doc} over `axes`; `keepdims` keeps them with size 1.")
