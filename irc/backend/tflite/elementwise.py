"""TFLite for element-wise ops (irc/ir/ops/elementwise.py).

ADD/SUB/MUL/DIV take a fused activation (an activation TFLite fuses that is the op's only user is written
into the op: RELU, RELU6 = clamp(0, 6), RELU_N1_TO_1 = clamp(-1, 1), TANH). silu is LOGISTIC times the input,
hardsigmoid a MUL and ADD clamped by MAXIMUM/MINIMUM, other clamps MAXIMUM/MINIMUM; identity and dropout
emit nothing (their result is their operand's tensor).
"""

from __future__ import annotations

import numpy as np

from ...ir import IrcError, Op
from .emitter import Emitter, emits, fuses

BINARY = {"add": ("ADD", "AddOptions"), "sub": ("SUB", "SubOptions"), "mul": ("MUL", "MulOptions"),
          "div": ("DIV", "DivOptions")}
PLAIN_BINARY = {"maximum": "MAXIMUM", "minimum": "MINIMUM", "pow": "POW"}
UNARY = {"relu": "RELU", "sigmoid": "LOGISTIC", "tanh": "TANH", "hardswish": "HARD_SWISH", "exp": "EXP",
         "log": "LOG", "sqrt": "SQRT", "rsqrt": "RSQRT", "neg": "NEG", "abs": "ABS"}


def _binary(builtin: str, options: str):
    def emit(emitter: Emitter, op: Op) -> None:
        x, y = emitter.input(op, 0), emitter.input(op, 1)
        act, out = emitter.fused(op)
        emitter.operator(builtin, [x, y], [out], options, fusedActivationFunction=act)

    return emit


def _plain_binary(builtin: str):
    def emit(emitter: Emitter, op: Op) -> None:
        emitter.operator(builtin, [emitter.input(op, 0), emitter.input(op, 1)], [emitter.output(op)])

    return emit


def _unary(builtin: str):
    def emit(emitter: Emitter, op: Op) -> None:
        emitter.operator(builtin, [emitter.input(op, 0)], [emitter.output(op)])

    return emit


for _kind, (_builtin, _options) in BINARY.items():
    emits(_kind)(_binary(_builtin, _options))
for _kind, _builtin in PLAIN_BINARY.items():
    emits(_kind)(_plain_binary(_builtin))
for _kind, _builtin in UNARY.items():
    emits(_kind)(_unary(_builtin))


@fuses("relu")
def _fuse_relu(op: Op) -> str:
    return "RELU"


@fuses("tanh")
def _fuse_tanh(op: Op) -> str:
    return "TANH"


CLAMPS = {(0.0, None): "RELU", (0.0, 6.0): "RELU6", (-1.0, 1.0): "RELU_N1_TO_1"}


def _clamp_bounds(op: Op) -> tuple:
    lo, hi = op.attrs.get("min"), op.attrs.get("max")
    return (None if lo is None else float(lo), None if hi is None else float(hi))


@fuses("clamp")
def _fuse_clamp(op: Op) -> str | None:
    return CLAMPS.get(_clamp_bounds(op))


@emits("clamp")
def _clamp(emitter: Emitter, op: Op) -> None:
    bounds = _clamp_bounds(op)
    if bounds in CLAMPS:
        emitter.operator(CLAMPS[bounds], [emitter.input(op, 0)], [emitter.output(op)])
        return
    _min_max(emitter, op, emitter.input(op, 0), *bounds)


def _min_max(emitter: Emitter, op: Op, x: int, lo: float | None, hi: float | None) -> None:
    """x clamped to [lo, hi] by MAXIMUM and MINIMUM with scalar constants, into the op's result."""
    dtype = op.results[0].type.dtype
    if lo is not None:
        out = emitter.output(op) if hi is None else emitter.temp(op, "lo", op.results[0].type.shape)
        emitter.operator("MAXIMUM", [x, emitter.const(op, "min", np.asarray(lo), dtype)], [out])
        x = out
    if hi is not None:
        emitter.operator("MINIMUM", [x, emitter.const(op, "max", np.asarray(hi), dtype)], [emitter.output(op)])


@emits("leaky_relu")
def _leaky_relu(emitter: Emitter, op: Op) -> None:
    emitter.operator("LEAKY_RELU", [emitter.input(op, 0)], [emitter.output(op)], "LeakyReluOptions",
                     alpha=float(op.attrs["negative_slope"]))


@emits("gelu")
def _gelu(emitter: Emitter, op: Op) -> None:
    emitter.operator("GELU", [emitter.input(op, 0)], [emitter.output(op)], "GeluOptions",
                     approximate=op.attrs["approximate"] == "tanh")


@emits("elu")
def _elu(emitter: Emitter, op: Op) -> None:
    if float(op.attrs["alpha"]) != 1.0:
        raise IrcError("TFLite's ELU has alpha 1 only")
    emitter.operator("ELU", [emitter.input(op, 0)], [emitter.output(op)])


@emits("silu")
def _silu(emitter: Emitter, op: Op) -> None:
    x = emitter.input(op, 0)
    sig = emitter.temp(op, "sigmoid", op.results[0].type.shape)
    emitter.operator("LOGISTIC", [x], [sig])
    emitter.operator("MUL", [x, sig], [emitter.output(op)], "MulOptions")


@emits("hardsigmoid")
def _hardsigmoid(emitter: Emitter, op: Op) -> None:
    """clamp(alpha * x + beta, 0, 1)."""
    dtype, shape = op.results[0].type.dtype, op.results[0].type.shape
    scaled = emitter.temp(op, "scaled", shape)
    emitter.operator("MUL", [emitter.input(op, 0), emitter.const(op, "alpha", np.asarray(op.attrs["alpha"]), dtype)],
                     [scaled], "MulOptions")
    shifted = emitter.temp(op, "shifted", shape)
    emitter.operator("ADD", [scaled, emitter.const(op, "beta", np.asarray(op.attrs["beta"]), dtype)], [shifted],
                     "AddOptions")
    _min_max(emitter, op, shifted, 0.0, 1.0)


def _alias(emitter: Emitter, op: Op) -> None:
    emitter.bind(op.results[0], emitter.input(op, 0))


emits("identity")(_alias)
emits("dropout")(_alias)
