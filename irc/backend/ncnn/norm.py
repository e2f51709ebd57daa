"""ncnn for normalisations and softmax (irc/ir/ops/norm.py).

batch_norm (when fuse-bn could not fold it) is BatchNorm over the blob's outermost dim (the IR's channel
axis 1); layer_norm is LayerNorm over the last dim (affine_size = w) or, on a C,H,W blob, the last two (w*h);
group_norm is GroupNorm; softmax is Softmax with fixbug0=1 (ncnn's correct axis handling); log_softmax is
Softmax then UnaryOp log.
"""

from __future__ import annotations

import numpy as np

from ...ir import IrcError, Op
from .emitter import Emitter, emits

LOG = 8  # ncnn UnaryOp op_type


def _spatial_first(op: Op) -> None:
    if op.attrs.get("layout", "nchw") != "nchw":
        raise IrcError("ncnn is channel-first: run the nhwc-to-nchw pass before emitting ncnn")


@emits("batch_norm")
def _batch_norm(emitter: Emitter, op: Op) -> None:
    _spatial_first(op)
    weight, bias, mean, var = (emitter.weight(v, what) for v, what in
                               zip(op.operands[1:], ("weight", "bias", "running_mean", "running_var"), strict=True))
    top = emitter.out(op)
    emitter.layer("BatchNorm", top, [emitter.blob(op.operands[0])], [top],
                  {0: int(mean.size), 1: op.attrs["epsilon"]},
                  [(weight, False), (mean, False), (var, False), (bias, False)])


def _affine(emitter: Emitter, op: Op, size: int) -> tuple[int, list]:
    """(affine flag, [gamma, beta]) of a norm op whose weight and bias are optional."""
    weight = emitter.weight(op.operands[1] if len(op.operands) > 1 else None, "weight")
    bias = emitter.weight(op.operands[2] if len(op.operands) > 2 else None, "bias")
    if weight is None and bias is None:
        return 0, []
    gamma = np.ones(size, np.float32) if weight is None else weight.reshape(size)
    beta = np.zeros(size, np.float32) if bias is None else bias.reshape(size)
    return 1, [(gamma, False), (beta, False)]


@emits("layer_norm")
def _layer_norm(emitter: Emitter, op: Op) -> None:
    x = op.operands[0]
    shape = emitter.shape(x)
    axes = sorted(emitter.axis(x, a) for a in op.attrs["axes"])
    last = len(shape) - 1
    if axes == [last]:
        size = shape[-1]
    elif axes == [last - 1, last] and len(shape) == 3:
        size = shape[-1] * shape[-2]
    else:
        raise IrcError(f"ncnn LayerNorm normalises the last dim (or the last two of a C,H,W blob), not axes "
                       f"{op.attrs['axes']} of {x.type}")
    affine, weights = _affine(emitter, op, size)
    top = emitter.out(op)
    emitter.layer("LayerNorm", top, [emitter.blob(x)], [top], {0: size, 1: op.attrs["epsilon"], 2: affine},
                  weights)


@emits("group_norm")
def _group_norm(emitter: Emitter, op: Op) -> None:
    x = op.operands[0]
    channels = emitter.shape(x)[0]
    affine, weights = _affine(emitter, op, channels)
    top = emitter.out(op)
    emitter.layer("GroupNorm", top, [emitter.blob(x)], [top],
                  {0: op.attrs["num_groups"], 1: channels, 2: op.attrs["epsilon"], 3: affine}, weights)


@emits("softmax")
def _softmax(emitter: Emitter, op: Op) -> None:
    top = emitter.out(op)
    emitter.layer("Softmax", top, [emitter.blob(op.operands[0])], [top],
                  {0: emitter.axis(op.operands[0], op.attrs["axis"]), 1: 1})


@emits("log_softmax")
def _log_softmax(emitter: Emitter, op: Op) -> None:
    top = emitter.out(op)
    soft = emitter.tmp(top, "softmax")
    emitter.layer("Softmax", soft, [emitter.blob(op.operands[0])], [soft],
                  {0: emitter.axis(op.operands[0], op.attrs["axis"]), 1: 1})
    emitter.layer("UnaryOp", top, [soft], [top], {0: LOG})
