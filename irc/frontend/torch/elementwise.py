"""ATen element-wise ops → nn's unary and binary element-wise ops."""

from __future__ import annotations

import torch

from ...ir.dtypes import FLOAT_DTYPES
from ..core import Unsupported
from .importer import imports

aten = torch.ops.aten


_UNARY = {aten.relu.default: "relu", aten.sigmoid.default: "sigmoid", aten.tanh.default: "tanh",
          aten.silu.default: "silu", aten.hardswish.default: "hardswish", aten.exp.default: "exp",
          aten.log.default: "log", aten.sqrt.default: "sqrt", aten.rsqrt.default: "rsqrt", aten.neg.default: "neg",
          aten.abs.default: "abs", aten.erf.default: "erf"}


def _make_unary(kind):
    def fn(importer, node, x):
        v = importer.operand(x)
        return importer.result(kind, [importer.cast(v, importer.out_type().dtype)])
    return fn


for _target, _kind in _UNARY.items():
    imports(_target)(_make_unary(_kind))


@imports(aten.hardsigmoid.default)
def _hardsigmoid(importer, node, x):
    return importer.result("hardsigmoid", [importer.operand(x)])


@imports(aten.hardtanh.default)
def _hardtanh(importer, node, x, lo=-1.0, hi=1.0):
    return importer.result("clamp", [importer.operand(x)], {"min": float(lo), "max": float(hi)})


@imports(aten.relu6.default)
def _relu6(importer, node, x):
    return importer.result("clamp", [importer.operand(x)], {"min": 0.0, "max": 6.0})


@imports(aten.clamp.default)
def _clamp(importer, node, x, lo=None, hi=None):
    if lo is None and hi is None:
        return importer.operand(x)
    return importer.result("clamp", [importer.operand(x)], {"min": None if lo is None else float(lo),
                                                            "max": None if hi is None else float(hi)})


@imports(aten.leaky_relu.default)
def _leaky(importer, node, x, slope=0.01):
    return importer.result("leaky_relu", [importer.operand(x)], {"negative_slope": float(slope)})


@imports(aten.elu.default)
def _elu(importer, node, x, alpha=1.0, scale=1.0, input_scale=1.0):
    if scale != 1 or input_scale != 1:
        raise Unsupported("elu with scale (selu) is not supported")
    return importer.result("elu", [importer.operand(x)], {"alpha": float(alpha)})


@imports(aten.gelu.default)
def _gelu(importer, node, x, approximate="none"):
    return importer.result("gelu", [importer.operand(x)], {"approximate": approximate})


@imports(aten.softplus.default)
def _softplus(importer, node, x, beta=1.0, threshold=20.0):
    return importer.result("softplus", [importer.operand(x)], {"beta": float(beta), "threshold": float(threshold)})


def _binary_operands(importer, x, other):
    want = importer.out_type().dtype
    return importer.operand(x, want), importer.operand(other, want)


def _make_binary(kind):
    def fn(importer, node, x, other, alpha=1):
        lhs, rhs = _binary_operands(importer, x, other)
        if alpha != 1:
            dtype = rhs.type.dtype
            scale = importer.constant(float(alpha) if dtype in FLOAT_DTYPES else int(alpha), dtype)
            rhs = importer.emit("mul", [rhs, scale])
        return importer.result(kind, [lhs, rhs])
    return fn


for _target, _kind in {aten.add.Tensor: "add", aten.add.Scalar: "add", aten.sub.Tensor: "sub", aten.sub.Scalar: "sub",
               aten.mul.Tensor: "mul", aten.mul.Scalar: "mul", aten.div.Tensor: "div", aten.div.Scalar: "div",
               aten.pow.Tensor_Tensor: "pow", aten.pow.Tensor_Scalar: "pow", aten.maximum.default: "maximum",
               aten.minimum.default: "minimum"}.items():
    imports(_target)(_make_binary(_kind))


@imports(aten.rsub.Scalar, aten.rsub.Tensor)
def _rsub(importer, node, x, other, alpha=1):
    lhs, rhs = _binary_operands(importer, x, other)
    if alpha != 1:
        lhs = importer.emit("mul", [lhs, importer.constant(float(alpha), lhs.type.dtype)])
    return importer.result("sub", [rhs, lhs])


@imports(aten.div.Tensor_mode)
def _div_mode(importer, node, x, other, rounding_mode=None):
    if rounding_mode is not None:
        raise Unsupported(f"division with rounding_mode={rounding_mode!r} is not supported")
    return _make_binary("div")(importer, node, x, other)


@imports(aten.square.default)
def _square(importer, node, x):
    v = importer.operand(x)
    return importer.result("mul", [v, v])


@imports(aten.reciprocal.default)
def _reciprocal(importer, node, x):
    v = importer.operand(x)
    return importer.result("div", [importer.constant(1.0, v.type.dtype), v])


@imports(aten.prelu.default, aten._prelu_kernel.default)
def _prelu(importer, node, x, w):
    """relu(x) + w * min(x, 0), with w broadcast over the channel axis."""
    v, wv = importer.operand(x), importer.operand(w)
    rank = v.type.rank
    if wv.type.numel() != 1 and rank > 2:
        wv = importer.emit("reshape", [wv], {"shape": [-1] + [1] * (rank - 2)})
    pos = importer.emit("relu", [v])
    neg = importer.emit("minimum", [v, importer.constant(0.0, v.type.dtype)])
    return importer.result("add", [pos, importer.emit("mul", [neg, wv])])
