"""Keras for normalisation ops (irc/ir/ops/norm.py): BatchNormalization (over the channel axis: last for nhwc
and rank 2, 1 for an nchw tensor), LayerNormalization over the op's axes, GroupNormalization over axis 1, Softmax;
log_softmax is keras.ops.log_softmax."""

from __future__ import annotations

import numpy as np

from ...ir import Op
from .emitter import KerasEmitter, NotEmittable, emits, lit


@emits("batch_norm")
def batch_norm(emitter: KerasEmitter, op: Op) -> None:
    rank = op.operands[0].type.rank
    axis = -1 if op.attrs["layout"] == "nhwc" or rank == 2 else 1
    weights = [emitter.weight(v, what) for v, what in zip(op.operands[1:], ("the scale", "the shift", "the mean",
                                                                              "the variance"), strict=True)]
    emitter.layer(op, "BatchNormalization", [f"axis={axis}", f"epsilon={lit(float(op.attrs['epsilon']))}"],
                  emitter.tensor(op.operands[0]), weights)


def _affine_args(emitter: KerasEmitter, op: Op) -> tuple[list[str], list]:
    """scale / center flags and the weights of a layer norm or group norm ([gamma], [beta] when present)."""
    weights = [emitter.weight(v, what) for v, what in zip(op.operands[1:], ("the scale", "the shift"), strict=False)]
    return [f"scale={len(weights) >= 1}", f"center={len(weights) >= 2}"], weights


@emits("layer_norm")
def layer_norm(emitter: KerasEmitter, op: Op) -> None:
    axes = op.attrs["axes"]
    flags, weights = _affine_args(emitter, op)
    axis = axes[0] if len(axes) == 1 else list(axes)
    emitter.layer(op, "LayerNormalization", [f"axis={lit(axis)}", f"epsilon={lit(float(op.attrs['epsilon']))}",
                                             *flags], emitter.tensor(op.operands[0]), weights)


@emits("group_norm")
def group_norm(emitter: KerasEmitter, op: Op) -> None:
    if op.operands[0].type.rank < 3:
        raise NotEmittable("group norm of a rank-2 tensor")
    flags, weights = _affine_args(emitter, op)
    emitter.layer(op, "GroupNormalization", [f"groups={op.attrs['num_groups']}", "axis=1",
                                             f"epsilon={lit(float(op.attrs['epsilon']))}", *flags],
                  emitter.tensor(op.operands[0]), [np.asarray(w) for w in weights])


@emits("softmax")
def softmax(emitter: KerasEmitter, op: Op) -> None:
    emitter.layer(op, "Softmax", [f"axis={op.attrs['axis']}"], emitter.tensor(op.operands[0]))


@emits("log_softmax")
def log_softmax(emitter: KerasEmitter, op: Op) -> None:
    emitter.ops(op, "log_softmax", emitter.tensor(op.operands[0]), axis=op.attrs["axis"])
