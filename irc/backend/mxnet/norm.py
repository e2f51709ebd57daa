"""batch_norm as BatchNorm (fix_gamma False, the global statistics; moving_mean and moving_var are aux
states); layer_norm over the last axis as LayerNorm; group_norm as GroupNorm (whose gamma and beta are one
per group in MXNet 1.x: ones and zeros) times the per-channel weight plus bias; softmax and log_softmax."""

from __future__ import annotations

import numpy as np

from ...ir import Op
from .emitter import Entry, MxnetEmitter, Refused, emits


@emits("batch_norm")
def batch_norm(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    out = outs[0]
    weight, bias, mean, var = op.operands[1:]
    inputs = [emitter.operand(op, 0, ins), emitter.weight(weight, f"{out}_gamma"),
              emitter.weight(bias, f"{out}_beta"), emitter.weight(mean, f"{out}_moving_mean", aux=True),
              emitter.weight(var, f"{out}_moving_var", aux=True)]
    attrs = {"eps": float(op.attrs["epsilon"]), "fix_gamma": False, "use_global_stats": True, "axis": 1}
    return emitter.node("BatchNorm", out, inputs, attrs)


def _affine(emitter: MxnetEmitter, op: Op, out: str, what: str, index: int, fill: float, size: int) -> object:
    if index < len(op.operands):
        return emitter.weight(op.operands[index], f"{out}_{what}")
    return emitter.variable(emitter.tmp(out, what), np.full((size,), fill, np.float32))


@emits("layer_norm")
def layer_norm(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    x = op.operands[0].type
    if [a % x.rank for a in op.attrs["axes"]] != [x.rank - 1]:
        raise Refused(f"normalising over axes {op.attrs['axes']}: MXNet's LayerNorm takes one axis (the last here)")
    size = x.shape[-1]
    inputs = [emitter.operand(op, 0, ins), _affine(emitter, op, outs[0], "gamma", 1, 1.0, size),
              _affine(emitter, op, outs[0], "beta", 2, 0.0, size)]
    return emitter.node("LayerNorm", outs[0], inputs, {"axis": -1, "eps": float(op.attrs["epsilon"])})


@emits("group_norm")
def group_norm(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    x, out = op.operands[0].type, outs[0]
    if x.rank != 4:
        raise Refused(f"input {x}: MXNet's GroupNorm is written for NCHW here")
    groups = op.attrs["num_groups"]
    ones = emitter.variable(emitter.tmp(out, "group_gamma"), np.ones((groups,), np.float32))
    zeros = emitter.variable(emitter.tmp(out, "group_beta"), np.zeros((groups,), np.float32))
    attrs = {"num_groups": groups, "eps": float(op.attrs["epsilon"])}
    last = outs[0] if len(op.operands) < 2 else emitter.tmp(out, "normed")
    y = emitter.node("GroupNorm", last, [emitter.operand(op, 0, ins), ones, zeros], attrs)
    if len(op.operands) < 2:
        return y
    per_channel = (1, x.shape[1], 1, 1)
    gamma = emitter.weight(op.operands[1], f"{out}_gamma", reorder=lambda a: a.reshape(per_channel))
    if len(op.operands) < 3:
        return emitter.node("broadcast_mul", out, [y, gamma])
    y = emitter.node("broadcast_mul", emitter.tmp(out, "scaled"), [y, gamma])
    beta = emitter.weight(op.operands[2], f"{out}_beta", reorder=lambda a: a.reshape(per_channel))
    return emitter.node("broadcast_add", out, [y, beta])


@emits("softmax", "log_softmax")
def softmax(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    return emitter.node(op.name.removeprefix("nn."), outs[0], [emitter.operand(op, 0, ins)],
                        {"axis": op.attrs["axis"]})
