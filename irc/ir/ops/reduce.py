"""Reductions over axes."""

from __future__ import annotations

from ..core import Op, TensorType
from .registry import Attr, ShapeError, define, input_flops, need_float, norm_axis


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


def infer_variance(ins: list[TensorType], attrs: dict) -> TensorType:
    need_float(ins[0])
    return infer_reduce(ins, attrs)


define("variance", "reduce", ("input",),
       [Attr("axes", "ints"), Attr("keepdims", "bool", False),
        Attr("correction", "float", 1.0, doc="the divisor is N - correction (1: Bessel's, unbiased)")],
       infer_variance, axis_attrs=("axes",), flops=lambda op: 3 * input_flops(op), rules={"dim_map": reduce_dim_map},
       doc="Variance over `axes`: sum((x - mean)**2) / (N - correction) (torch.var); std is its square root.")


def infer_arg_extremum(ins: list[TensorType], attrs: dict) -> TensorType:
    x = ins[0]
    axis = norm_axis(attrs["axis"], x.rank)
    if x.shape[axis] == 0:
        raise ShapeError(f"cannot take an arg-extremum over axis {axis} of {x}, which is empty")
    return infer_reduce(ins, {"axes": [axis], "keepdims": attrs["keepdims"]}).with_dtype("i64")


def _axis_dim_map(op: Op) -> dict:
    """{result dim: input dim} for every dim but `axis` (kept in place with keepdims)."""
    rank = op.operands[0].type.rank
    axis = op.attrs["axis"] % rank
    kept = [i for i in range(rank) if i != axis]
    return {i: i for i in kept} if op.attrs["keepdims"] else dict(enumerate(kept))


for _name, _doc in {"argmax": "largest", "argmin": "smallest"}.items():
    define(_name, "reduce", ("input",), [Attr("axis", "int"), Attr("keepdims", "bool", False)], infer_arg_extremum,
           axis_attrs=("axis",), flops=input_flops, rules={"dim_map": _axis_dim_map},
           doc=f"The i64 index of the {_doc} element along `axis` (the first one on ties); `keepdims` keeps the "
               "axis with size 1.")


def infer_cumsum(ins: list[TensorType], attrs: dict) -> TensorType:
    norm_axis(attrs["axis"], ins[0].rank)
    return ins[0]


define("cumsum", "reduce", ("input",), [Attr("axis", "int")], infer_cumsum, axis_attrs=("axis",), flops=input_flops,
       doc="Inclusive running sum along `axis` (torch.cumsum, ONNX CumSum).")


def infer_topk(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    x = ins[0]
    axis = norm_axis(attrs["axis"], x.rank)
    k = attrs["k"]
    if k < 0 or (x.shape[axis] is not None and k > x.shape[axis]):
        raise ShapeError(f"k = {k} is out of range for dimension {axis} of {x}")
    shape = list(x.shape)
    shape[axis] = k
    return [x.with_shape(shape), x.with_shape(shape).with_dtype("i64")]


define("topk", "reduce", ("input",),
       [Attr("k", "int"), Attr("axis", "int", -1), Attr("largest", "bool", True), Attr("sorted", "bool", True)],
       infer_topk, num_results=2, axis_attrs=("axis",), flops=input_flops,
       doc="The k largest (or smallest) elements along `axis` and their i64 indices (torch.topk, ONNX TopK); "
           "two results: values, indices.")


def infer_sort(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    x = ins[0]
    norm_axis(attrs["axis"], x.rank)
    return [x, x.with_dtype("i64")]


define("sort", "reduce", ("input",), [Attr("axis", "int", -1), Attr("descending", "bool", False)], infer_sort,
       num_results=2, axis_attrs=("axis",), flops=input_flops,
       doc="Sorts along `axis` (torch.sort); two results: the sorted values and their i64 indices in the input.")
