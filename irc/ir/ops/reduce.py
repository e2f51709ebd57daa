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


def infer_extremum(ins: list[TensorType], attrs: dict) -> TensorType:
    """A maximum or minimum has no value over an empty dimension (a sum or mean does)."""
    x = ins[0]
    empty = [a for a in attrs["axes"] if -x.rank <= a < x.rank and x.shape[a] == 0]
    if empty:
        raise ShapeError(f"cannot take a maximum or minimum over axis {empty[0]} of {x}, which is empty")
    return infer_reduce(ins, attrs)


def reduce_dim_map(op: Op) -> dict:
    """{result dim: input dim} for the dims not reduced."""
    rank = op.operands[0].type.rank
    axes = {ax % rank for ax in op.attrs["axes"]}
    kept = [i for i in range(rank) if i not in axes]
    if op.attrs["keepdims"]:
        return {i: i for i in kept}
    return dict(enumerate(kept))


for _name, _doc in {"mean": "Mean", "sum": "Sum", "reduce_max": "Maximum", "reduce_min": "Minimum"}.items():
    define(_name, "reduce", ("input",), [Attr("axes", "ints"), Attr("keepdims", "bool", False)],
           infer_extremum if _name.startswith("reduce_") else infer_reduce,
           axis_attrs=("axes",), flops=input_flops, rules={"dim_map": reduce_dim_map},
           doc=f"{_doc} over `axes`; `keepdims` keeps them with size 1.")
