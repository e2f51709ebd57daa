"""ONNX for element-wise ops (irc/ir/ops/elementwise.py).

gelu is ONNX Gelu from opset 20, else built from Erf (or Tanh for approximate="tanh"); HardSwish is used
from opset 14; softplus with PyTorch's threshold is Softplus/Greater/Where unless the threshold changes
nothing. compare "ne" is Not(Equal).
"""

from __future__ import annotations

import math

from ...ir import Op
from .emitter import Emitter, Handler, emits

# IR op -> the ONNX op of the same meaning, input for input
PLAIN = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "exp": "Exp", "log": "Log", "sqrt": "Sqrt",
         "neg": "Neg", "abs": "Abs", "erf": "Erf", "identity": "Identity", "dropout": "Identity", "add": "Add",
         "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow", "maximum": "Max", "minimum": "Min", "sin": "Sin",
         "cos": "Cos", "tan": "Tan", "asin": "Asin", "acos": "Acos", "atan": "Atan", "floor": "Floor", "ceil": "Ceil",
         "round": "Round", "sign": "Sign", "logical_and": "And", "logical_or": "Or", "logical_xor": "Xor",
         "logical_not": "Not", "where": "Where"}
COMPARISONS = {"eq": "Equal", "lt": "Less", "le": "LessOrEqual", "gt": "Greater", "ge": "GreaterOrEqual"}


def plain(onnx_op: str) -> Handler:
    """An emitter writing one ONNX node of kind `onnx_op` with the op's operands."""

    def emit(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
        emitter.node(onnx_op, ins, outs[0])

    return emit


for _ir, _onnx in PLAIN.items():
    emits(_ir)(plain(_onnx))


def _dtype(op: Op) -> str:
    return op.operands[0].type.dtype


@emits("rsqrt")
def _rsqrt(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    s = emitter.node("Sqrt", ins, emitter.tmp(outs[0], "sqrt"))
    emitter.node("Reciprocal", [s], outs[0])


@emits("silu")
def _silu(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    s = emitter.node("Sigmoid", ins, emitter.tmp(outs[0], "sigmoid"))
    emitter.node("Mul", [ins[0], s], outs[0])


@emits("hardswish")
def _hardswish(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    if emitter.opset >= 14:
        emitter.node("HardSwish", ins, outs[0])
        return
    s = emitter.node("HardSigmoid", ins, emitter.tmp(outs[0], "hardsigmoid"), alpha=1 / 6, beta=0.5)
    emitter.node("Mul", [ins[0], s], outs[0])


@emits("hardsigmoid")
def _hardsigmoid(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    emitter.node("HardSigmoid", ins, outs[0], alpha=op.attrs["alpha"], beta=op.attrs["beta"])


@emits("clamp")
def _clamp(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    lo, hi = op.attrs.get("min"), op.attrs.get("max")
    dt = _dtype(op)
    args = [ins[0], emitter.scalar(outs[0], "min", lo, dt) if lo is not None else "",
            emitter.scalar(outs[0], "max", hi, dt) if hi is not None else ""]
    while args[-1] == "":
        args.pop()
    emitter.node("Clip", args, outs[0])


@emits("leaky_relu")
def _leaky_relu(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    emitter.node("LeakyRelu", ins, outs[0], alpha=op.attrs["negative_slope"])


@emits("elu")
def _elu(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    emitter.node("Elu", ins, outs[0], alpha=op.attrs["alpha"])


@emits("gelu")
def _gelu(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    approx = op.attrs["approximate"]
    if emitter.opset >= 20:
        emitter.node("Gelu", ins, outs[0], approximate=approx)
        return
    x, out, dt = ins[0], outs[0], _dtype(op)
    if approx == "none":  # 0.5 * x * (1 + erf(x / sqrt(2)))
        inner = emitter.node("Div", [x, emitter.scalar(out, "sqrt2", math.sqrt(2.0), dt)], emitter.tmp(out, "div"))
        t = emitter.node("Erf", [inner], emitter.tmp(out, "erf"))
    else:  # 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))
        x3 = emitter.node("Mul", [x, emitter.node("Mul", [x, x], emitter.tmp(out, "x2"))], emitter.tmp(out, "x3"))
        k = emitter.node("Mul", [x3, emitter.scalar(out, "c", 0.044715, dt)], emitter.tmp(out, "cx3"))
        s = emitter.node("Add", [x, k], emitter.tmp(out, "sum"))
        inner = emitter.node("Mul", [s, emitter.scalar(out, "k", math.sqrt(2.0 / math.pi), dt)],
                             emitter.tmp(out, "inner"))
        t = emitter.node("Tanh", [inner], emitter.tmp(out, "tanh"))
    one_p = emitter.node("Add", [t, emitter.scalar(out, "one", 1.0, dt)], emitter.tmp(out, "onep"))
    half = emitter.node("Mul", [x, emitter.scalar(out, "half", 0.5, dt)], emitter.tmp(out, "half"))
    emitter.node("Mul", [half, one_p], out)


@emits("softplus")
def _softplus(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    beta, thr = op.attrs["beta"], op.attrs["threshold"]
    x, out, dt = ins[0], outs[0], _dtype(op)
    bx = x if beta == 1.0 else emitter.node("Mul", [x, emitter.scalar(out, "beta", beta, dt)], emitter.tmp(out, "bx"))
    if thr >= 16 and beta == 1.0:  # above 16, log(1 + e^x) == x in f32: PyTorch's threshold changes nothing
        emitter.node("Softplus", [bx], out)
        return
    sp = emitter.node("Softplus", [bx], emitter.tmp(out, "softplus"))
    if beta != 1.0:
        sp = emitter.node("Div", [sp, emitter.scalar(out, "beta_d", beta, dt)], emitter.tmp(out, "scaled"))
    cond = emitter.node("Greater", [bx, emitter.scalar(out, "threshold", thr, dt)], emitter.tmp(out, "linear"))
    emitter.node("Where", [cond, x, sp], out)


@emits("compare")
def _compare(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    predicate = op.attrs["predicate"]
    if predicate == "ne":
        emitter.node("Not", [emitter.node("Equal", ins, emitter.tmp(outs[0], "eq"))], outs[0])
        return
    emitter.node(COMPARISONS[predicate], ins, outs[0])
