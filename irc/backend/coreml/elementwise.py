"""CoreML for elementwise ops and activations (irc/ir/ops/elementwise.py).

Binary ops broadcast as in PyTorch (MIL's numpy rules). relu6, silu, gelu, elu, leaky_relu map one to one;
hardsigmoid is `sigmoid_hard` (alpha, beta) and hardswish `x * sigmoid_hard(x, 1/6, 1/2)`; clamp is `clip`
with both bounds, else a maximum/minimum with a constant; neg multiplies by -1; softplus with beta != 1 is
softplus(beta * x) / beta (PyTorch's linear region above `threshold` agrees to float precision). compare is
MIL's equal / less / ... by predicate, where is `select`. round has no mapping (MIL does not say how it
rounds halves; PyTorch rounds them to even).
"""

from __future__ import annotations

from ...ir import Op
from .emitter import Emitter, emits

BINARY = {"add": "add", "sub": "sub", "mul": "mul", "div": "real_div", "pow": "pow", "maximum": "maximum",
          "minimum": "minimum"}  # IR op -> MIL op
UNARY = {"relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "silu": "silu", "abs": "abs", "exp": "exp",
         "log": "log", "sqrt": "sqrt", "rsqrt": "rsqrt", "erf": "erf", "identity": "identity",
         "dropout": "identity", "ceil": "ceil", "floor": "floor", "sign": "sign", "sin": "sin", "cos": "cos",
         "tan": "tan", "asin": "asin", "acos": "acos", "atan": "atan", "logical_not": "logical_not"}
LOGICAL = {"logical_and": "logical_and", "logical_or": "logical_or", "logical_xor": "logical_xor"}
COMPARE = {"eq": "equal", "ne": "not_equal", "lt": "less", "le": "less_equal", "gt": "greater",
           "ge": "greater_equal"}  # nn.compare's predicate -> MIL op


def _binary(mil_op: str):
    def emit(emitter: Emitter, op: Op, ins: list, names: list) -> object:
        return getattr(emitter.mb, mil_op)(x=ins[0], y=ins[1], name=names[0])

    return emit


def _unary(mil_op: str):
    def emit(emitter: Emitter, op: Op, ins: list, names: list) -> object:
        return getattr(emitter.mb, mil_op)(x=ins[0], name=names[0])

    return emit


for _ir, _mil in {**BINARY, **LOGICAL}.items():
    emits(_ir)(_binary(_mil))
for _ir, _mil in UNARY.items():
    emits(_ir)(_unary(_mil))


def _dtype(op: Op) -> str:
    return op.results[0].type.dtype


@emits("leaky_relu")
def _leaky_relu(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    return emitter.mb.leaky_relu(x=ins[0], alpha=float(op.attrs["negative_slope"]), name=names[0])


@emits("elu")
def _elu(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    return emitter.mb.elu(x=ins[0], alpha=float(op.attrs["alpha"]), name=names[0])


@emits("gelu")
def _gelu(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    mode = "TANH_APPROXIMATION" if op.attrs["approximate"] == "tanh" else "EXACT"
    return emitter.mb.gelu(x=ins[0], mode=mode, name=names[0])


@emits("hardsigmoid")
def _hardsigmoid(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    return emitter.mb.sigmoid_hard(x=ins[0], alpha=float(op.attrs["alpha"]), beta=float(op.attrs["beta"]),
                                   name=names[0])


@emits("hardswish")
def _hardswish(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    gate = emitter.mb.sigmoid_hard(x=ins[0], alpha=1.0 / 6, beta=0.5, name=emitter.tmp(names[0], "gate"))
    return emitter.mb.mul(x=ins[0], y=gate, name=names[0])


@emits("neg")
def _neg(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    return emitter.mb.mul(x=ins[0], y=emitter.const(-1.0, names[0] + "__minus_one", _dtype(op)), name=names[0])


@emits("softplus")
def _softplus(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    beta = float(op.attrs["beta"])
    if beta == 1.0:
        return emitter.mb.softplus(x=ins[0], name=names[0])
    mb, name = emitter.mb, names[0]
    scaled = mb.mul(x=ins[0], y=emitter.const(beta, name + "__beta", _dtype(op)), name=emitter.tmp(name, "scaled"))
    soft = mb.softplus(x=scaled, name=emitter.tmp(name, "softplus"))
    return mb.real_div(x=soft, y=emitter.const(beta, name + "__beta", _dtype(op)), name=name)


@emits("clamp")
def _clamp(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    low, high = op.attrs.get("min"), op.attrs.get("max")
    mb, name, dtype = emitter.mb, names[0], _dtype(op)
    if low is not None and high is not None:
        if (low, high) == (0.0, 6.0):
            return mb.relu6(x=ins[0], name=name)
        return mb.clip(x=ins[0], alpha=float(low), beta=float(high), name=name)
    if low is not None:
        return mb.maximum(x=ins[0], y=emitter.const(low, name + "__min", dtype), name=name)
    if high is not None:
        return mb.minimum(x=ins[0], y=emitter.const(high, name + "__max", dtype), name=name)
    return mb.identity(x=ins[0], name=name)


@emits("compare")
def _compare(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    return getattr(emitter.mb, COMPARE[op.attrs["predicate"]])(x=ins[0], y=ins[1], name=names[0])


@emits("where")
def _where(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    return emitter.mb.select(cond=ins[0], a=ins[1], b=ins[2], name=names[0])
