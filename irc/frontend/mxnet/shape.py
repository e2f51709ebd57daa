"""Concat, Reshape (with MXNet's special values 0, -1, -2, -3, -4), Flatten, transpose, slice_axis, slice,
SliceChannel / split (squeeze_axis too), Pad, expand_dims, squeeze, broadcast_to, tile (short reps padded with 1s)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ...ir import Value
from ..core import Unsupported
from .importer import Node, imports

if TYPE_CHECKING:
    from .importer import MxnetImporter

PAD_MODES = {"constant": "constant", "edge": "replicate", "reflect": "reflect"}


@imports("Concat", "concat")
def concat(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    return importer.emit("concat", ins, {"axis": node.integer("dim", 1)})


def _special(src: list, spec: list, out: list, at: int, pos: int) -> tuple[int, int]:
    """One special value of a Reshape spec, spec[pos], reading src[at]: (the next `at`, the next `pos`)."""
    code = spec[pos]
    if code == 0:
        out.append(src[at])
    elif code == -2:
        out.extend(src[at:])
        return len(src), pos + 1
    elif code == -3:
        out.append(src[at] * src[at + 1])
        return at + 2, pos + 1
    elif code == -4:
        first, second = spec[pos + 1], spec[pos + 2]
        first, second = (src[at] // second if first == -1 else first), (src[at] // first if second == -1 else second)
        out.extend([first, second])
        return at + 1, pos + 3
    else:
        raise Unsupported(f"shape value {code}")
    return at + 1, pos + 1


def reshaped(src: list, spec: list) -> list:
    """The output shape of MXNet's Reshape of `src` by `spec`."""
    out: list = []
    at = pos = 0
    while pos < len(spec):
        if spec[pos] > 0 or spec[pos] == -1:
            out.append(spec[pos])
            at, pos = at + 1, pos + 1
        else:
            at, pos = _special(src, spec, out, at, pos)
    if -1 in out:
        known = math.prod(d for d in out if d != -1)
        out[out.index(-1)] = math.prod(src) // known
    return out


@imports("Reshape", "reshape")
def reshape(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    if node.flag("reverse"):
        raise Unsupported("reverse = True")
    src = list(ins[0].type.shape)
    if None in src:
        raise Unsupported(f"input {ins[0].type} has a dynamic dim")
    spec = node.ints("shape") or node.ints("target_shape")
    if not spec:
        raise Unsupported("no shape")
    return importer.emit("reshape", ins[:1], {"shape": reshaped(src, spec)})


@imports("Flatten", "flatten")
def flatten(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    return importer.emit("flatten", ins[:1], {"start_axis": 1, "end_axis": -1})


@imports("transpose")
def transpose(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    perm = node.ints("axes", []) or list(reversed(range(ins[0].type.rank)))
    return importer.emit("transpose", ins[:1], {"perm": perm})


@imports("slice_axis")
def slice_axis(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    x = ins[0]
    axis = node.integer("axis", 0) % x.type.rank
    end = node.text("end", "None")
    stop = x.type.shape[axis] if end == "None" else node.integer("end", 0)
    attrs = {"axes": [axis], "starts": [node.integer("begin", 0)], "ends": [stop]}
    return importer.emit("slice", [x], attrs)


@imports("slice", "crop")
def slice_(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    x = ins[0]
    begin, end = node.ints("begin", []), node.ints("end", [])
    step = node.ints("step", []) or [None] * len(begin)
    axes, starts, ends, steps = [], [], [], []
    for axis, (b, e, s) in enumerate(zip(begin, end, step, strict=False)):
        s = 1 if s is None else s
        if s < 1:
            raise Unsupported(f"step {s}: only positive steps")
        if (b, e, s) == (None, None, 1):
            continue
        size = x.type.shape[axis]
        axes.append(axis)
        starts.append(0 if b is None else b)
        ends.append(size if e is None else e)
        steps.append(s)
    if not axes:
        return x
    return importer.emit("slice", [x], {"axes": axes, "starts": starts, "ends": ends, "steps": steps})


@imports("SliceChannel", "split")
def split(importer: MxnetImporter, node: Node, ins: list[Value]) -> list[Value]:
    x, parts = ins[0], node.integer("num_outputs", 1)
    axis = node.integer("axis", 1) % x.type.rank
    size = x.type.shape[axis]
    if size is None or size % parts:
        raise Unsupported(f"{size} along axis {axis} in {parts} equal parts")
    outs = importer.emit_results("split", [x], {"axis": axis, "sizes": [size // parts] * parts})
    if node.flag("squeeze_axis"):
        outs = [importer.emit("squeeze", [v], {"axes": [axis]}) for v in outs]
    return outs


@imports("Pad", "pad")
def pad(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    mode = node.text("mode", "constant")
    if mode not in PAD_MODES:
        raise Unsupported(f"mode {mode}")
    width = node.ints("pad_width", [])
    if len(width) != 2 * ins[0].type.rank:
        raise Unsupported(f"pad_width {width} for {ins[0].type}")
    attrs = {"pads": [[width[2 * i], width[2 * i + 1]] for i in range(len(width) // 2)], "mode": PAD_MODES[mode]}
    if mode == "constant":
        attrs["value"] = node.number("constant_value", 0.0)
    return importer.emit("pad", ins[:1], attrs)


@imports("expand_dims")
def expand_dims(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    axis = node.integer("axis", 0) % (ins[0].type.rank + 1)
    return importer.emit("unsqueeze", ins[:1], {"axes": [axis]})


@imports("squeeze")
def squeeze(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    shape = ins[0].type.shape
    given = node.ints("axis") if node.text("axis", "None") != "None" else None
    axes = [a % len(shape) for a in given] if given else [i for i, d in enumerate(shape) if d == 1]
    return importer.emit("squeeze", ins[:1], {"axes": sorted(axes)})


@imports("broadcast_to")
def broadcast_to(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    src, spec = ins[0].type.shape, node.ints("shape", [])
    shape = [s if d == 0 else d for s, d in zip(src, spec, strict=False)]
    return importer.emit("expand", ins[:1], {"shape": shape})


@imports("tile")
def tile(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    reps, rank = node.ints("reps", []), ins[0].type.rank
    if len(reps) > rank:
        raise Unsupported(f"reps {reps} for {ins[0].type}: more repeats than dims")
    return importer.emit("tile", ins[:1], {"repeats": [1] * (rank - len(reps)) + list(reps)})
