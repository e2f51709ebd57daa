"""TFLite for normalisation (irc/ir/ops/norm.py): softmax over the last axis is SOFTMAX (LOG_SOFTMAX);
batch_norm with constant statistics is a MUL and an ADD by per-channel constants (fuse-bn usually folds
it into the convolution before); layer_norm is MEAN, SUB, MUL, MEAN, ADD, RSQRT, MUL (and the affine)."""

from __future__ import annotations

import numpy as np

from ...ir import IrcError, Op
from .emitter import Emitter, emits


def _last_axis(op: Op) -> None:
    if op.attrs["axis"] % op.operands[0].type.rank != op.operands[0].type.rank - 1:
        raise IrcError("TFLite's SOFTMAX works on the last axis only")


@emits("softmax")
def _softmax(emitter: Emitter, op: Op) -> None:
    _last_axis(op)
    emitter.operator("SOFTMAX", [emitter.input(op, 0)], [emitter.output(op)], "SoftmaxOptions", beta=1.0)


@emits("log_softmax")
def _log_softmax(emitter: Emitter, op: Op) -> None:
    _last_axis(op)
    emitter.operator("LOG_SOFTMAX", [emitter.input(op, 0)], [emitter.output(op)], "LogSoftmaxOptions")


@emits("batch_norm")
def _batch_norm(emitter: Emitter, op: Op) -> None:
    w, b, mean, var = (emitter.array(v) for v in op.operands[1:5])
    if any(a is None for a in (w, b, mean, var)):
        raise IrcError("batch_norm needs constant weights and statistics")
    scale = (w / np.sqrt(var + float(op.attrs["epsilon"]))).astype(np.float32)
    shift = (b - mean * scale).astype(np.float32)
    scaled = emitter.temp(op, "scaled", op.results[0].type.shape)
    emitter.operator("MUL", [emitter.input(op, 0), emitter.const(op, "scale", scale)], [scaled], "MulOptions")
    act, out = emitter.fused(op)
    emitter.operator("ADD", [scaled, emitter.const(op, "shift", shift)], [out], "AddOptions",
                     fusedActivationFunction=act)


def _reduce_mean(emitter: Emitter, op: Op, x: int, axes: list, what: str) -> int:
    shape = [1 if i in axes else d for i, d in enumerate(op.results[0].type.shape)]
    out = emitter.temp(op, what, shape)
    emitter.operator("MEAN", [x, emitter.const(op, what + "_axes", np.asarray(axes, np.int32))], [out],
                     "ReducerOptions", keepDims=True)
    return out


@emits("layer_norm")
def _layer_norm(emitter: Emitter, op: Op) -> None:
    """(x - mean) * rsqrt(var + eps), then times the weight and plus the bias when given."""
    shape = op.results[0].type.shape
    axes = sorted(a % len(shape) for a in op.attrs["axes"])
    reduced = [1 if i in axes else d for i, d in enumerate(shape)]
    x = emitter.input(op, 0)
    centred = emitter.temp(op, "centred", shape)
    emitter.operator("SUB", [x, _reduce_mean(emitter, op, x, axes, "mean")], [centred], "SubOptions")
    square = emitter.temp(op, "square", shape)
    emitter.operator("MUL", [centred, centred], [square], "MulOptions")
    eps = emitter.const(op, "eps", np.asarray(float(op.attrs["epsilon"]), np.float32))
    shifted = emitter.temp(op, "var_eps", reduced)
    emitter.operator("ADD", [_reduce_mean(emitter, op, square, axes, "var"), eps], [shifted], "AddOptions")
    inv = emitter.temp(op, "rstd", reduced)
    emitter.operator("RSQRT", [shifted], [inv])
    steps = [("MUL", "MulOptions"), ("ADD", "AddOptions")][:len(op.operands) - 1]  # weight, bias
    last = emitter.output(op) if not steps else emitter.temp(op, "normed", shape)
    emitter.operator("MUL", [centred, inv], [last], "MulOptions")
    for n, (builtin, options) in enumerate(steps):
        out = emitter.output(op) if n == len(steps) - 1 else emitter.temp(op, "scaled", shape)
        emitter.operator(builtin, [last, emitter.input(op, n + 1)], [out], options)
        last = out
