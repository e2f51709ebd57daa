"""ONNX for normalisation and softmax (irc/ir/ops/norm.py).

layer_norm is LayerNormalization from opset 17 when its axes are the trailing ones, else decomposed;
group_norm is GroupNormalization from opset 21 (per-channel scale, PyTorch's), decomposed below (opset
18's GroupNormalization scales per group).
"""

from __future__ import annotations

import numpy as np

from ...ir import IrcError, Op
from ...ir.dtypes import IR_TO_NP
from .emitter import Emitter, emits, spatial


@emits("batch_norm")
@spatial
def _batch_norm(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    emitter.node("BatchNormalization", ins, outs[0], epsilon=op.attrs["epsilon"])


def _normalize(emitter: Emitter, x: str, axes: list, out: str, eps: float, dt: str, last: bool) -> str:
    """(x - mean) / sqrt(var + eps) over `axes` (kept), named `out` when `last`."""
    mean = emitter.reduce("ReduceMean", x, axes, emitter.tmp(out, "mean"), True)
    d = emitter.node("Sub", [x, mean], emitter.tmp(out, "centered"))
    var = emitter.reduce("ReduceMean", emitter.node("Mul", [d, d], emitter.tmp(out, "sq")), axes,
                         emitter.tmp(out, "var"), True, "axes_v")
    std = emitter.node("Sqrt", [emitter.node("Add", [var, emitter.scalar(out, "eps", eps, dt)],
                                             emitter.tmp(out, "var_eps"))], emitter.tmp(out, "std"))
    return emitter.node("Div", [d, std], out if last else emitter.tmp(out, "normed"))


@emits("layer_norm")
def _layer_norm(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    x = op.operands[0].type
    rank = x.rank
    axes = sorted(a % rank for a in op.attrs["axes"])
    eps = op.attrs["epsilon"]
    out, dt = outs[0], x.dtype
    trailing = axes == list(range(rank - len(axes), rank))
    if trailing and emitter.opset >= 17:
        args = list(ins)
        if len(args) < 2:
            shape = [x.shape[a] for a in axes]
            if None in shape:
                raise IrcError("layer_norm without weight over dynamic axes")
            args.append(emitter.init(f"{out}__ones", np.ones(shape, dtype=IR_TO_NP[dt]), dt))
        emitter.node("LayerNormalization", args, out, axis=axes[0], epsilon=eps)
        return
    y = _normalize(emitter, ins[0], axes, out, eps, dt, last=len(ins) == 1)
    shape = [x.shape[a] if a in axes else 1 for a in range(axes[0], rank)]
    if None in shape:
        shape = [-1 if a in axes else 1 for a in range(axes[0], rank)]
        if shape.count(-1) > 1:
            raise IrcError("layer_norm over several dynamic axes")
    for i, what in ((1, "weight"), (2, "bias")):
        if len(ins) <= i:
            break
        p = emitter.node("Reshape", [ins[i], emitter.ints(out, f"{what}_shape", shape)], emitter.tmp(out, f"{what}_b"))
        last = i == len(ins) - 1
        y = emitter.node("Mul" if i == 1 else "Add", [y, p], out if last else emitter.tmp(out, "scaled"))


@emits("group_norm")
def _group_norm(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    x = op.operands[0].type
    g, eps, out, dt = op.attrs["num_groups"], op.attrs["epsilon"], outs[0], x.dtype
    if emitter.opset >= 21 and len(ins) == 3:  # GroupNormalization-21 takes PyTorch's per-channel scale and bias
        emitter.node("GroupNormalization", ins, out, num_groups=g, epsilon=eps)
        return
    grouped = emitter.node("Reshape", [ins[0], emitter.ints(out, "grouped_shape", [0, g, -1])],
                           emitter.tmp(out, "grouped"))
    normed = _normalize(emitter, grouped, [2], out, eps, dt, last=False)
    shape = emitter.node("Shape", [ins[0]], emitter.tmp(out, "shape"))
    y = emitter.node("Reshape", [normed, shape], emitter.tmp(out, "ungrouped") if len(ins) > 1 else out)
    pshape = [-1] + [1] * (x.rank - 2)
    for i, kind in ((1, "Mul"), (2, "Add")):
        if len(ins) <= i:
            break
        p = emitter.node("Reshape", [ins[i], emitter.ints(out, f"p{i}_shape", pshape)], emitter.tmp(out, f"p{i}"))
        y = emitter.node(kind, [y, p], out if i == len(ins) - 1 else emitter.tmp(out, "scaled"))


@emits("softmax")
def _softmax(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    emitter.node("Softmax", ins, outs[0], axis=op.attrs["axis"])


@emits("log_softmax")
def _log_softmax(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    emitter.node("LogSoftmax", ins, outs[0], axis=op.attrs["axis"])
