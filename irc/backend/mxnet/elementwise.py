"""Activations and element-wise arithmetic.

relu, sigmoid, tanh and softplus (beta 1) are Activation; leaky_relu, elu and gelu (erf form, MXNet 1.x's)
are LeakyReLU; the tanh form of gelu, silu and hardswish are a few nodes. Two operands are broadcast_* nodes
(MXNet right-aligns shapes as the IR does); a weight operand is a variable of its own, but a one-value weight
next to an activation of the result's shape is the `_*_scalar` form (`_plus_scalar`, `_rminus_scalar`, ...).
clamp is clip, with float32's extremes for a missing bound; dropout and identity are `_copy`.
"""

from __future__ import annotations

import math

from ...ir import Op
from .emitter import Entry, MxnetEmitter, Refused, emits

BIGGEST = 3.4028234663852886e38

UNARY = {"relu": ("Activation", {"act_type": "relu"}), "sigmoid": ("Activation", {"act_type": "sigmoid"}),
         "tanh": ("Activation", {"act_type": "tanh"}), "abs": ("abs", {}), "exp": ("exp", {}), "log": ("log", {}),
         "sqrt": ("sqrt", {}), "rsqrt": ("rsqrt", {}), "neg": ("negative", {}), "erf": ("erf", {}),
         "dropout": ("_copy", {}), "identity": ("_copy", {}), "sin": ("sin", {}), "cos": ("cos", {}),
         "tan": ("tan", {}), "asin": ("arcsin", {}), "acos": ("arccos", {}), "atan": ("arctan", {}),
         "floor": ("floor", {}), "ceil": ("ceil", {}), "sign": ("sign", {})}

BINARY = {"add": "broadcast_add", "sub": "broadcast_sub", "mul": "broadcast_mul", "div": "broadcast_div",
          "maximum": "broadcast_maximum", "minimum": "broadcast_minimum", "pow": "broadcast_power"}
# an activation and a one-value weight: (the op with the weight second, the op with the weight first)
SCALAR = {"add": ("_plus_scalar", "_plus_scalar"), "sub": ("_minus_scalar", "_rminus_scalar"),
          "mul": ("_mul_scalar", "_mul_scalar"), "div": ("_div_scalar", "_rdiv_scalar"),
          "maximum": ("_maximum_scalar", "_maximum_scalar"), "minimum": ("_minimum_scalar", "_minimum_scalar"),
          "pow": ("_power_scalar", "_rpower_scalar")}


def _kind(op: Op) -> str:
    return op.name.removeprefix("nn.")


@emits(*UNARY)
def unary(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    kind, attrs = UNARY[_kind(op)]
    return emitter.node(kind, outs[0], [emitter.operand(op, 0, ins)], attrs)


def _scalar(emitter: MxnetEmitter, op: Op, ins: list) -> tuple[int, float] | None:
    """(the activation's operand index, the weight's one value) when the other operand is a one-value weight
    that broadcasts nothing up; else None."""
    if None not in ins or ins == [None, None]:
        return None
    which = 0 if ins[0] is not None else 1
    weight = op.operands[1 - which]
    if weight.type.shape is None or None in weight.type.shape or math.prod(weight.type.shape) != 1 or \
            op.operands[which].type.shape != op.results[0].type.shape:
        return None
    return which, float(emitter.array(weight).reshape(-1)[0])


@emits(*BINARY)
def binary(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    if ins == [None, None]:
        raise Refused("both operands are weights (run fold-constants)")
    scalar = _scalar(emitter, op, ins)
    if scalar is not None:
        which, value = scalar
        kind = SCALAR[_kind(op)][which]
        return emitter.node(kind, outs[0], [ins[which]], {"scalar": value})
    return emitter.node(BINARY[_kind(op)], outs[0], [emitter.operand(op, 0, ins), emitter.operand(op, 1, ins)])


@emits("leaky_relu")
def leaky_relu(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    attrs = {"act_type": "leaky", "slope": float(op.attrs["negative_slope"])}
    return emitter.node("LeakyReLU", outs[0], [emitter.operand(op, 0, ins)], attrs)


@emits("elu")
def elu(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    attrs = {"act_type": "elu", "slope": float(op.attrs["alpha"])}
    return emitter.node("LeakyReLU", outs[0], [emitter.operand(op, 0, ins)], attrs)


@emits("softplus")
def softplus(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    if op.attrs["beta"] != 1.0:
        raise Refused(f"beta {op.attrs['beta']}: MXNet's softrelu is log(1 + exp(x))")
    return emitter.node("Activation", outs[0], [emitter.operand(op, 0, ins)], {"act_type": "softrelu"})


@emits("gelu")
def gelu(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    x = emitter.operand(op, 0, ins)
    if op.attrs["approximate"] == "none":
        return emitter.node("LeakyReLU", outs[0], [x], {"act_type": "gelu"})
    # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    cube = emitter.node("_power_scalar", emitter.tmp(outs[0], "cube"), [x], {"scalar": 3.0})
    scaled = emitter.node("_mul_scalar", emitter.tmp(outs[0], "cubed"), [cube], {"scalar": 0.044715})
    inner = emitter.node("elemwise_add", emitter.tmp(outs[0], "inner"), [x, scaled])
    inner = emitter.node("_mul_scalar", emitter.tmp(outs[0], "arg"), [inner], {"scalar": math.sqrt(2 / math.pi)})
    tanh = emitter.node("Activation", emitter.tmp(outs[0], "tanh"), [inner], {"act_type": "tanh"})
    gate = emitter.node("_plus_scalar", emitter.tmp(outs[0], "gate"), [tanh], {"scalar": 1.0})
    half = emitter.node("_mul_scalar", emitter.tmp(outs[0], "half"), [x], {"scalar": 0.5})
    return emitter.node("elemwise_mul", outs[0], [half, gate])


@emits("silu")
def silu(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    x = emitter.operand(op, 0, ins)
    gate = emitter.node("Activation", emitter.tmp(outs[0], "sigmoid"), [x], {"act_type": "sigmoid"})
    return emitter.node("elemwise_mul", outs[0], [x, gate])


@emits("hardsigmoid")
def hardsigmoid(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    attrs = {"alpha": float(op.attrs["alpha"]), "beta": float(op.attrs["beta"])}
    return emitter.node("hard_sigmoid", outs[0], [emitter.operand(op, 0, ins)], attrs)


@emits("hardswish")
def hardswish(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    x = emitter.operand(op, 0, ins)
    gate = emitter.node("hard_sigmoid", emitter.tmp(outs[0], "gate"), [x], {"alpha": 1 / 6, "beta": 0.5})
    return emitter.node("elemwise_mul", outs[0], [x, gate])


@emits("clamp")
def clamp(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    low, high = op.attrs.get("min"), op.attrs.get("max")
    attrs = {"a_min": -BIGGEST if low is None else float(low), "a_max": BIGGEST if high is None else float(high)}
    return emitter.node("clip", outs[0], [emitter.operand(op, 0, ins)], attrs)
