"""Ops without operands: parameters from the weight file and inline constants; and casts."""

from __future__ import annotations

from ..core import DTYPES
from .registry import Attr, ShapeError, define


def _dense_shape(values):
    shape = []
    while isinstance(values, list):
        shape.append(len(values))
        values = values[0] if values else None
    return tuple(shape)


def infer_constant(ins, attrs):
    dense = attrs["value"]
    if not dense.is_splat:
        got = _dense_shape(dense.values)
        if got != dense.type.shape:
            raise ShapeError(f"dense literal has shape {list(got)} but its type is {dense.type}")
    elif not dense.type.is_static:
        raise ShapeError(f"dense literal type {dense.type} must be static")
    return dense.type


def infer_param(ins, attrs):
    # A param's type is whatever the weight file holds; the verifier compares the two.
    return None


define("param", "core", (), [Attr("key", "str", doc="the tensor's name in the weight file")], infer_param,
       doc="A tensor read from the module's weight file. The result type must equal the stored tensor's.")
define("constant", "core", (), [Attr("value", "dense")], infer_constant,
       doc="A small literal tensor written inline: `dense<[...]> : tensor<...>`, or a splat `dense<1.0>`.")


def infer_cast(ins, attrs):
    return ins[0].with_dtype(attrs["dtype"])


define("cast", "core", ("input",), [Attr("dtype", "enum", choices=DTYPES)], infer_cast,
       doc="Converts the element type (as torch.Tensor.to(dtype)).")
