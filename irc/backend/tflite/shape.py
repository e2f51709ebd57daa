"""TFLite for shape and movement ops (irc/ir/ops/shape.py).

reshape, flatten and unsqueeze are RESHAPE to the result's type (a dynamic dimension -1); slice is
STRIDED_SLICE over every dim (an end past the dim is masked); split is SPLIT_V; pad is PAD (constant 0),
PADV2 (another constant), MIRROR_PAD REFLECT, or MIRROR_PAD SYMMETRIC for a replicate pad of at most
one element per side (the two agree there).
"""

from __future__ import annotations

import numpy as np

from ...ir import IrcError, Op
from .emitter import Emitter, emits


def reshape_to(emitter: Emitter, op: Op, x: int, out: int, shape: tuple) -> None:
    """RESHAPE x into `shape` (None dims -1; at most one)."""
    dims = [-1 if d is None else int(d) for d in shape]
    if dims.count(-1) > 1:
        raise IrcError(f"a reshape to {list(shape)} has more than one dynamic dimension")
    emitter.operator("RESHAPE", [x, emitter.const(op, "shape", np.asarray(dims, np.int32))], [out],
                     "ReshapeOptions", newShape=dims)


def _reshape(emitter: Emitter, op: Op) -> None:
    reshape_to(emitter, op, emitter.input(op, 0), emitter.output(op), op.results[0].type.shape)


emits("reshape")(_reshape)
emits("flatten")(_reshape)
emits("unsqueeze")(_reshape)


def _axes(op: Op, key: str = "axes") -> list[int]:
    rank = op.operands[0].type.rank
    return [a % rank for a in op.attrs[key]]


@emits("squeeze")
def _squeeze(emitter: Emitter, op: Op) -> None:
    emitter.operator("SQUEEZE", [emitter.input(op, 0)], [emitter.output(op)], "SqueezeOptions",
                     squeezeDims=_axes(op))


@emits("transpose")
def _transpose(emitter: Emitter, op: Op) -> None:
    perm = emitter.const(op, "perm", np.asarray(op.attrs["perm"], np.int32))
    emitter.operator("TRANSPOSE", [emitter.input(op, 0), perm], [emitter.output(op)], "TransposeOptions")


@emits("concat")
def _concat(emitter: Emitter, op: Op) -> None:
    ins = [emitter.input(op, i) for i in range(len(op.operands))]
    act, out = emitter.fused(op)
    emitter.operator("CONCATENATION", ins, [out], "ConcatenationOptions",
                     axis=op.attrs["axis"] % op.operands[0].type.rank, fusedActivationFunction=act)


@emits("slice")
def _slice(emitter: Emitter, op: Op) -> None:
    shape = op.operands[0].type.shape
    rank = len(shape)
    begin, end, strides = [0] * rank, [0] * rank, [1] * rank
    mask = (1 << rank) - 1  # begin and end masked (the whole dim) except on the sliced axes
    end_mask = mask
    steps = op.attrs.get("steps") or [1] * len(op.attrs["axes"])
    for axis, start, stop, step in zip(op.attrs["axes"], op.attrs["starts"], op.attrs["ends"], steps, strict=True):
        axis %= rank  # (steps are positive: the verifier says so)
        begin[axis], strides[axis] = start, step
        mask &= ~(1 << axis)
        size = shape[axis]
        if size is None and stop >= 2**31 - 1 or size is not None and stop >= size:
            continue  # to the end: masked
        end[axis] = stop
        end_mask &= ~(1 << axis)
    ins = [emitter.input(op, 0), emitter.const(op, "begin", begin), emitter.const(op, "end", end),
           emitter.const(op, "strides", strides)]
    emitter.operator("STRIDED_SLICE", ins, [emitter.output(op)], "StridedSliceOptions", beginMask=mask,
                     endMask=end_mask)


@emits("split")
def _split(emitter: Emitter, op: Op) -> None:
    sizes = emitter.const(op, "sizes", np.asarray(op.attrs["sizes"], np.int32))
    axis = emitter.const(op, "axis", np.asarray(op.attrs["axis"] % op.operands[0].type.rank, np.int32))
    outs = [emitter.output(op, i) for i in range(len(op.results))]
    emitter.operator("SPLIT_V", [emitter.input(op, 0), sizes, axis], outs, "SplitVOptions", numSplits=len(outs))


@emits("pad")
def _pad(emitter: Emitter, op: Op) -> None:
    pads = op.attrs["pads"]
    mode, value = op.attrs["mode"], float(op.attrs["value"])
    x, out = emitter.input(op, 0), emitter.output(op)
    amounts = emitter.const(op, "pads", np.asarray(pads, np.int32))
    if mode == "constant" and value == 0.0:
        emitter.operator("PAD", [x, amounts], [out], "PadOptions")
    elif mode == "constant":
        fill = emitter.const(op, "value", np.asarray(value), op.results[0].type.dtype)
        emitter.operator("PADV2", [x, amounts, fill], [out], "PadV2Options")
    elif mode == "reflect" or (mode == "replicate" and all(p <= 1 for pair in pads for p in pair)):
        kind = emitter.schema.MirrorPadMode.REFLECT if mode == "reflect" else emitter.schema.MirrorPadMode.SYMMETRIC
        emitter.operator("MIRROR_PAD", [x, amounts], [out], "MirrorPadOptions", mode=kind)
    else:
        raise IrcError(f"pad mode '{mode}' with these amounts has no TFLite equivalent")


@emits("gather")
def _gather(emitter: Emitter, op: Op) -> None:
    emitter.operator("GATHER", [emitter.input(op, 0), emitter.input(op, 1)], [emitter.output(op)], "GatherOptions",
                     axis=op.attrs["axis"] % op.operands[0].type.rank)


@emits("expand")
def _expand(emitter: Emitter, op: Op) -> None:
    shape = op.results[0].type.shape
    if any(d is None for d in shape):
        raise IrcError("expand to a dynamic shape is not supported")
    dims = emitter.const(op, "shape", np.asarray(shape, np.int32))
    emitter.operator("BROADCAST_TO", [emitter.input(op, 0), dims], [emitter.output(op)])
