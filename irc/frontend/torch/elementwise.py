"""ATen element-wise ops → nn's unary and binary element-wise ops."""

from __future__ import annotations

import torch

from ...ir.dtypes import FLOAT_DTYPES, from_torch
from ..core import Unsupported
from .importer import imports

aten = torch.ops.aten


_UNARY = {aten.relu.default: "relu", aten.sigmoid.default: "sigmoid", aten.tanh.default: "tanh",
          aten.silu.default: "silu", aten.hardswish.default: "hardswish", aten.exp.default: "exp",
          aten.log.default: "log", aten.sqrt.default: "sqrt", aten.rsqrt.default: "rsqrt", aten.neg.default: "neg",
          aten.abs.default: "abs", aten.erf.default: "erf", aten.sin.default: "sin", aten.cos.default: "cos",
          aten.tan.default: "tan", aten.asin.default: "asin", aten.acos.default: "acos", aten.atan.default: "atan",
          aten.floor.default: "floor", aten.ceil.default: "ceil", aten.round.default: "round",
          aten.sign.default: "sign"}


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
               aten.pow.Tensor_Tensor: "pow", aten.maximum.default: "maximum",
               aten.minimum.default: "minimum"}.items():
    imports(_target)(_make_binary(_kind))


# torch's own fast paths for these exponents, so the IR computes the same bits (x ** 2 is x * x, not powf)
_POW_AS = {2: "mul", 0.5: "sqrt", -0.5: "rsqrt"}


@imports(aten.pow.Tensor_Scalar)
def _pow_scalar(importer, node, x, exponent):
    kind = _POW_AS.get(exponent) if importer.out_type().dtype in FLOAT_DTYPES else None
    if kind is None:
        return _make_binary("pow")(importer, node, x, exponent)
    v = importer.operand(x, importer.out_type().dtype)
    return importer.result(kind, [v, v] if kind == "mul" else [v])


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


# -- comparisons, boolean logic, selection

_COMPARISONS = {"eq": aten.eq, "ne": aten.ne, "lt": aten.lt, "le": aten.le, "gt": aten.gt, "ge": aten.ge}


def _compare_operands(importer, x, other):
    """Both operands in the type torch compares them in (a Python scalar takes the tensor's type)."""
    lhs = importer.operand(x)
    if isinstance(other, torch.fx.Node):
        rhs = importer.operand(other)
        common = from_torch(torch.promote_types(x.meta["val"].dtype, other.meta["val"].dtype))
        return importer.cast(lhs, common), importer.cast(rhs, common)
    if isinstance(other, float) and lhs.type.dtype not in FLOAT_DTYPES:
        lhs = importer.cast(lhs, "f32")
    return lhs, importer.operand(other, lhs.type.dtype)


def _make_compare(predicate):
    def fn(importer, node, x, other):
        lhs, rhs = _compare_operands(importer, x, other)
        return importer.result("compare", [lhs, rhs], {"predicate": predicate})
    return fn


for _predicate, _packet in _COMPARISONS.items():
    imports(_packet.Tensor, _packet.Scalar)(_make_compare(_predicate))


def _booleans(importer, node, *args):
    if any(a.meta["val"].dtype != torch.bool for a in args if isinstance(a, torch.fx.Node)):
        raise Unsupported("bitwise operations on integers are not supported (only on booleans)")
    return [importer.operand(a, "i1") for a in args]


def _make_logical(kind):
    def fn(importer, node, x, other):
        return importer.result(kind, _booleans(importer, node, x, other))
    return fn


for _target, _kind in {aten.bitwise_and.Tensor: "logical_and", aten.bitwise_or.Tensor: "logical_or",
                       aten.bitwise_xor.Tensor: "logical_xor", aten.logical_and.default: "logical_and",
                       aten.logical_or.default: "logical_or", aten.logical_xor.default: "logical_xor"}.items():
    imports(_target)(_make_logical(_kind))


@imports(aten.bitwise_not.default, aten.logical_not.default)
def _logical_not(importer, node, x):
    if node.target is aten.bitwise_not.default:
        _booleans(importer, node, x)
    return importer.result("logical_not", [importer.operand(x, "i1")])


@imports(aten.where.self)
def _where(importer, node, condition, x, other):
    want = importer.out_type().dtype
    return importer.result("where", [importer.operand(condition, "i1"), importer.operand(x, want),
                                     importer.operand(other, want)])


@imports(aten.masked_fill.Scalar, aten.masked_fill.Tensor)
def _masked_fill(importer, node, x, mask, value):
    v = importer.operand(x)
    return importer.result("where", [importer.operand(mask, "i1"), importer.operand(value, v.type.dtype), v])
