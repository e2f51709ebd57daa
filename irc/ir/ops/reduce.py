"""Reductions over axes."""

from __future__ import annotations

from .registry import Attr, ShapeError, define, norm_axis


def infer_reduce(ins, attrs):
    x = ins[0]
    axes = {norm_axis(a, x.rank) for a in attrs["axes"]}
    if len(axes) != len(attrs["axes"]):
        raise ShapeError(f"axes {attrs['axes']} name a dimension twice")
    if attrs["keepdims"]:
        return x.with_shape([1 if i in axes else d for i, d in enumerate(x.shape)])
    return x.with_shape([d for i, d in enumerate(x.shape) if i not in axes])


for _name, _doc in {"mean": "Mean", "sum": "Sum", "reduce_max": "Maximum", "reduce_min": "Minimum"}.items():
    define(_name, "reduce", ("input",), [Attr("axes", "ints"), Attr("keepdims", "bool", False)], infer_reduce,
           axis_attrs=("axes",), doc=f"{_doc} over `axes`; `keepdims` keeps them with size 1.")
