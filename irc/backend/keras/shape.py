"""Keras for shape ops (irc/ir/ops/shape.py).

Concatenate(axis), Reshape and Flatten (when the batch dim is kept), Permute (when the batch dim stays first),
ZeroPadding2D for a zero pad of H and W of a rank-4 tensor, Embedding for the rows of a 2-D param gathered by
an integer tensor; the rest are keras.ops calls or indexing (`x[:, 1:3]`).
"""

from __future__ import annotations

import numpy as np

from ...ir import Op
from ...ir.dtypes import IR_TO_NP
from .emitter import KerasEmitter, NotEmittable, emits, lit

PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@emits("concat")
def concat(emitter: KerasEmitter, op: Op) -> None:
    ins = [emitter.tensor(v) for v in op.operands]
    if len(ins) == 1:
        emitter.alias(op, ins[0])
        return
    emitter.layer(op, "Concatenate", [f"axis={op.attrs['axis']}"], ins)


def _keeps_batch(op: Op) -> bool:
    src, dst = op.operands[0].type.shape, op.results[0].type.shape
    return src[0] == dst[0] and None not in dst[1:]


def _reshape(emitter: KerasEmitter, op: Op) -> None:
    x = emitter.tensor(op.operands[0])
    shape = op.results[0].type.shape
    if _keeps_batch(op):
        emitter.layer(op, "Reshape", [lit(list(shape[1:]))], x)
        return
    if sum(d is None for d in shape) > 1:
        raise NotEmittable(f"a reshape to {list(shape)} with more than one dynamic dim")
    emitter.ops(op, "reshape", x, lit([-1 if d is None else d for d in shape]))


emits("reshape")(_reshape)


@emits("flatten")
def flatten(emitter: KerasEmitter, op: Op) -> None:
    x = op.operands[0]
    start, end = op.attrs["start_axis"] % x.type.rank, op.attrs["end_axis"] % x.type.rank
    if start == 1 and end == x.type.rank - 1 and x.type.rank > 2:
        emitter.layer(op, "Flatten", [], emitter.tensor(x))
        return
    _reshape(emitter, op)


@emits("transpose")
def transpose(emitter: KerasEmitter, op: Op) -> None:
    perm = op.attrs["perm"]
    x = emitter.tensor(op.operands[0])
    if perm[0] == 0:
        emitter.layer(op, "Permute", [lit(perm[1:])], x)
    else:
        emitter.ops(op, "transpose", x, lit(perm))


@emits("pad")
def pad(emitter: KerasEmitter, op: Op) -> None:
    pads, mode, value = op.attrs["pads"], op.attrs["mode"], op.attrs["value"]
    if any(p < 0 for pair in pads for p in pair):
        raise NotEmittable(f"negative pads {pads} (a crop)")
    x = emitter.tensor(op.operands[0])
    if len(pads) == 4 and mode == "constant" and value == 0.0 and pads[0] == pads[3] == [0, 0]:
        emitter.layer(op, "ZeroPadding2D", [lit(pads[1:3])], x)
        return
    kwargs = {"constant_values": float(value)} if mode == "constant" else {}
    emitter.ops(op, "pad", x, lit(pads), mode=PAD_MODES[mode], **kwargs)


def _index(start: int, end: int, step: int) -> str:
    text = f"{start if start else ''}:{end}"
    return text + (f":{step}" if step != 1 else "")


@emits("slice")
def slice_(emitter: KerasEmitter, op: Op) -> None:
    x = op.operands[0]
    steps = op.attrs.get("steps") or [1] * len(op.attrs["axes"])
    items = [":"] * x.type.rank
    for axis, start, end, step in zip(op.attrs["axes"], op.attrs["starts"], op.attrs["ends"], steps, strict=True):
        size = x.type.shape[axis % x.type.rank]
        if step < 1 or size is None:
            raise NotEmittable("a slice with a negative step or over a dynamic dim")
        start, end = (min(max(b + size if b < 0 else b, 0), size) for b in (start, end))
        items[axis % x.type.rank] = _index(start, end, step)
    while items and items[-1] == ":":
        items.pop()
    emitter.expr(op, f"{emitter.tensor(x)}[{', '.join(items)}]", "get_item")


@emits("squeeze")
def squeeze(emitter: KerasEmitter, op: Op) -> None:
    emitter.ops(op, "squeeze", emitter.tensor(op.operands[0]), axis=tuple(op.attrs["axes"]))


@emits("unsqueeze")
def unsqueeze(emitter: KerasEmitter, op: Op) -> None:
    emitter.ops(op, "expand_dims", emitter.tensor(op.operands[0]), axis=tuple(op.attrs["axes"]))


@emits("split")
def split(emitter: KerasEmitter, op: Op) -> None:
    points, total = [], 0
    for size in op.attrs["sizes"][:-1]:
        total += size
        points.append(total)
    rhs = f"keras.ops.split({emitter.tensor(op.operands[0])}, {lit(points)}, axis={op.attrs['axis']})"
    emitter.expr(op, rhs, "split", results=len(op.results))


@emits("gather")
def gather(emitter: KerasEmitter, op: Op) -> None:
    """Rows of a 2-D param at integer indices: an Embedding; else keras.ops.take."""
    table, indices = op.operands
    arr = emitter.constant(table)
    if arr is not None and arr.ndim == 2 and op.attrs["axis"] == 0 and emitter.constant(indices) is None:
        emitter.layer(op, "Embedding", [str(arr.shape[0]), str(arr.shape[1])], emitter.tensor(indices), [arr])
        return
    emitter.ops(op, "take", emitter.tensor(table), emitter.tensor(indices), axis=op.attrs["axis"])


@emits("expand")
def expand(emitter: KerasEmitter, op: Op) -> None:
    shape = op.results[0].type.shape
    if None in shape[1:]:
        raise NotEmittable(f"an expand to {list(shape)} with a dynamic dim past the first")
    x = emitter.tensor(op.operands[0])
    if shape[0] is None:  # the batch dim is the input's: only the others are broadcast
        ones = f"np.ones({lit(list(shape[1:]))}, dtype={np.dtype(IR_TO_NP[op.results[0].type.dtype]).name!r})"
        emitter.ops(op, "multiply", x, ones)
        return
    emitter.ops(op, "broadcast_to", x, lit(list(shape)))


@emits("roll")
def roll(emitter: KerasEmitter, op: Op) -> None:
    x = emitter.tensor(op.operands[0])
    shifts, axes = op.attrs["shifts"], op.attrs["axes"]
    if len(axes) == 1:
        emitter.ops(op, "roll", x, shift=shifts[0], axis=axes[0])
        return
    emitter.ops(op, "roll", x, shift=tuple(shifts), axis=tuple(axes))
