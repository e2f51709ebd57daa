"""Activations and element-wise arithmetic.

Activation (relu, sigmoid, tanh, softrelu, softsign), LeakyReLU (leaky, elu, gelu, prelu, and rrelu at
inference: the mean slope), the unary ops (relu, exp, erf, ...), elemwise_* and broadcast_* arithmetic (and
the older `_Plus`-style names), the `_*_scalar` forms, clip and hard_sigmoid. Identities at inference
(`_copy`, Dropout, BlockGrad) pass their input through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...ir import Value
from ..core import Unsupported
from .importer import Node, imports

if TYPE_CHECKING:
    from .importer import MxnetImporter

UNARY = {"relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "exp": "exp", "log": "log", "sqrt": "sqrt",
         "rsqrt": "rsqrt", "abs": "abs", "negative": "neg", "erf": "erf", "sin": "sin", "cos": "cos", "tan": "tan",
         "arcsin": "asin", "arccos": "acos", "arctan": "atan", "floor": "floor", "ceil": "ceil", "sign": "sign"}
ACTIVATIONS = {"relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh"}
BINARY = {"add": ("elemwise_add", "broadcast_add", "broadcast_plus", "_Plus", "_plus", "_add"),
          "sub": ("elemwise_sub", "broadcast_sub", "broadcast_minus", "_Minus", "_minus", "_sub"),
          "mul": ("elemwise_mul", "broadcast_mul", "_Mul", "_mul"),
          "div": ("elemwise_div", "broadcast_div", "_Div", "_div"),
          "maximum": ("broadcast_maximum", "_Maximum", "_maximum"),
          "minimum": ("broadcast_minimum", "_Minimum", "_minimum"),
          "pow": ("broadcast_power", "_Power", "_power")}
KIND_OF = {name: kind for kind, names in BINARY.items() for name in names}
# "_plus_scalar" -> (IR op, the scalar comes first)
SCALAR = {"_plus_scalar": ("add", False), "_minus_scalar": ("sub", False), "_rminus_scalar": ("sub", True),
          "_mul_scalar": ("mul", False), "_div_scalar": ("div", False), "_rdiv_scalar": ("div", True),
          "_maximum_scalar": ("maximum", False), "_minimum_scalar": ("minimum", False),
          "_power_scalar": ("pow", False), "_rpower_scalar": ("pow", True)}


@imports(*UNARY)
def unary(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    return importer.emit(UNARY[node.op], ins[:1])


@imports("_copy", "identity", "Dropout", "BlockGrad", "stop_gradient")
def identity(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    return ins[0]


def _softsign(importer: MxnetImporter, x: Value) -> Value:
    denominator = importer.emit("add", [importer.emit("abs", [x]), importer.constant(1.0, "one")])
    return importer.emit("div", [x, denominator])


@imports("Activation")
def activation(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    act = node.text("act_type")
    if act in ACTIVATIONS:
        return importer.emit(ACTIVATIONS[act], ins[:1])
    if act == "softrelu":
        return importer.emit("softplus", ins[:1])
    if act == "softsign":
        return _softsign(importer, ins[0])
    raise Unsupported(f"act_type {act}")


def _prelu(importer: MxnetImporter, x: Value, gamma: Value) -> Value:
    """max(x, 0) + gamma * min(x, 0), gamma one value per channel (axis 1)."""
    slope = importer.array(gamma).reshape(-1)
    if slope.size not in (1, x.type.shape[1]):
        raise Unsupported(f"gamma of {slope.size} values for {x.type.shape[1]} channels")
    shaped = importer.new_param(slope.reshape((-1,) + (1,) * (x.type.rank - 2)), "gamma")
    negative = importer.emit("minimum", [x, importer.constant(0.0, "zero")])
    scaled = importer.emit("mul", [negative, shaped])
    return importer.emit("add", [importer.emit("relu", [x]), scaled])


@imports("LeakyReLU")
def leaky_relu(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    act, x = node.text("act_type", "leaky"), ins[0]
    if act == "leaky":
        return importer.emit("leaky_relu", [x], {"negative_slope": node.number("slope", 0.25)})
    if act == "rrelu":  # at inference, the mean of the slope's range
        slope = (node.number("lower_bound", 0.125) + node.number("upper_bound", 0.334)) / 2
        return importer.emit("leaky_relu", [x], {"negative_slope": slope})
    if act == "elu":
        return importer.emit("elu", [x], {"alpha": node.number("slope", 0.25)})
    if act == "gelu":  # MXNet 1.x's gelu is the erf form
        return importer.emit("gelu", [x])
    if act == "prelu":
        return _prelu(importer, x, ins[1])
    raise Unsupported(f"act_type {act}")


@imports(*KIND_OF)
def binary(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    return importer.emit(KIND_OF[node.op], ins[:2])


@imports(*SCALAR)
def scalar(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    kind, first = SCALAR[node.op]
    value = importer.constant(node.number("scalar", 0.0), "scalar")
    return importer.emit(kind, [value, ins[0]] if first else [ins[0], value])


@imports("clip")
def clip(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    return importer.emit("clamp", ins[:1], {"min": node.number("a_min", 0.0), "max": node.number("a_max", 0.0)})


@imports("hard_sigmoid")
def hard_sigmoid(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    attrs = {"alpha": node.number("alpha", 0.2), "beta": node.number("beta", 0.5)}
    return importer.emit("hardsigmoid", ins[:1], attrs)
