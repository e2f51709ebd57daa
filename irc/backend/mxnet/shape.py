"""Concat, SliceChannel (equal parts; else one slice_axis per part), Reshape (squeeze and unsqueeze too), tile,
Flatten, transpose, slice_axis / slice, Pad, broadcast_to.

Reshape is written with the output's own dims, so MXNet needs no shape arithmetic. MXNet's Pad takes 4-D
and 5-D inputs padded on the spatial dims only, by non-negative amounts.
"""

from __future__ import annotations

import itertools

from ...ir import Op
from .emitter import Entry, MxnetEmitter, Refused, emits

PAD_MODES = {"constant": "constant", "replicate": "edge", "reflect": "reflect"}


def _axis(op: Op, axis: int, rank: int | None = None) -> int:
    return axis % (op.operands[0].type.rank if rank is None else rank)


@emits("concat")
def concat(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    inputs = [emitter.operand(op, i, ins) for i in range(len(op.operands))]
    attrs = {"dim": _axis(op, op.attrs["axis"]), "num_args": len(inputs)}
    return emitter.node("Concat", outs[0], inputs, attrs)


@emits("split")
def split(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> list[Entry]:
    axis, sizes = _axis(op, op.attrs["axis"]), op.attrs["sizes"]
    x = emitter.operand(op, 0, ins)
    if len(set(sizes)) == 1:
        index, _ = emitter.node("SliceChannel", outs[0], [x], {"axis": axis, "num_outputs": len(sizes)})
        return [(index, k) for k in range(len(sizes))]
    ends = list(itertools.accumulate(sizes))
    return [emitter.node("slice_axis", out, [x], {"axis": axis, "begin": end - size, "end": end})
            for out, size, end in zip(outs, sizes, ends, strict=True)]


def _target_shape(op: Op) -> tuple:
    src, dst = op.operands[0].type.shape, op.results[0].type.shape
    shape = []
    for i, d in enumerate(dst):
        if d is None:
            if not (i < len(src) and src[i] is None):
                raise Refused(f"dynamic dim {i} of the result {op.results[0].type} is not the input's")
            d = 0  # MXNet's "copy this dim of the input"
        shape.append(d)
    return tuple(shape)


@emits("reshape", "squeeze", "unsqueeze")
def reshape(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    return emitter.node("Reshape", outs[0], [emitter.operand(op, 0, ins)], {"shape": _target_shape(op)})


@emits("flatten")
def flatten(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    rank = op.operands[0].type.rank
    if _axis(op, op.attrs["start_axis"]) == 1 and _axis(op, op.attrs["end_axis"]) == rank - 1:
        return emitter.node("Flatten", outs[0], [emitter.operand(op, 0, ins)])
    return reshape(emitter, op, ins, outs)


@emits("transpose")
def transpose(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    return emitter.node("transpose", outs[0], [emitter.operand(op, 0, ins)], {"axes": tuple(op.attrs["perm"])})


@emits("expand")
def expand(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    return emitter.node("broadcast_to", outs[0], [emitter.operand(op, 0, ins)], {"shape": _target_shape(op)})


@emits("slice")
def slice_(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    x, rank = op.operands[0].type, op.operands[0].type.rank
    steps = op.attrs.get("steps") or [1] * len(op.attrs["axes"])
    axes = [_axis(op, a) for a in op.attrs["axes"]]
    bounds = {}
    for axis, start, end, step in zip(axes, op.attrs["starts"], op.attrs["ends"], steps, strict=True):
        size = x.shape[axis]
        if size is None:
            raise Refused(f"slicing dynamic dim {axis}")
        begin, stop, _ = slice(start, end, step).indices(size)
        bounds[axis] = (begin, stop if stop >= 0 else None, step)
    src = emitter.operand(op, 0, ins)
    if len(bounds) == 1 and next(iter(bounds.values()))[2] == 1:
        (axis, (begin, stop, _)), = bounds.items()
        return emitter.node("slice_axis", outs[0], [src], {"axis": axis, "begin": begin, "end": stop})
    begin = tuple(bounds[a][0] if a in bounds else None for a in range(rank))
    end = tuple(bounds[a][1] if a in bounds else None for a in range(rank))
    step = tuple(bounds[a][2] if a in bounds else None for a in range(rank))
    return emitter.node("slice", outs[0], [src], {"begin": begin, "end": end, "step": step})


@emits("pad")
def pad(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    pads, rank = op.attrs["pads"], op.operands[0].type.rank
    if rank not in (4, 5) or any(pads[0]) or any(pads[1]) or any(p < 0 for pair in pads for p in pair):
        raise Refused(f"pads {pads}: MXNet's Pad pads the spatial dims of a 4-D or 5-D input, by >= 0")
    mode = op.attrs["mode"]
    if mode not in PAD_MODES:
        raise Refused(f"mode {mode}: MXNet pads constant, edge or reflect")
    attrs = {"mode": PAD_MODES[mode], "pad_width": tuple(p for pair in pads for p in pair)}
    if mode == "constant":
        attrs["constant_value"] = float(op.attrs["value"])
    return emitter.node("Pad", outs[0], [emitter.operand(op, 0, ins)], attrs)


@emits("tile")
def tile(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    return emitter.node("tile", outs[0], [emitter.operand(op, 0, ins)], {"reps": tuple(op.attrs["repeats"])})
