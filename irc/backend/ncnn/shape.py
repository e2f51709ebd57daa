"""ncnn for data movement (irc/ir/ops/shape.py): concat, split, slice, reshape, flatten, transpose, pad, expand.

Axes are re-numbered for the batchless blob (`Emitter.axis`: IR axis a is blob axis a - 1; the batch is
refused). A reshape-like op is a Reshape to the result's batchless shape (a Flatten when the result is one
dimension); transpose is Permute, whose order_type is looked up by name (ncnn names an order by the input dims
it puts at each output position, innermost first); slice is Crop with starts/ends/axes; split is Slice; roll is
a Crop of the tail and one of the head concatenated, per axis; gather of a constant at constant indices (a
relative position table) is computed here into a MemoryData, any other gather refused.
"""

from __future__ import annotations

import numpy as np

from ...ir import IrcError, Op
from .emitter import Emitter, emits

# ncnn Permute order_type by name, per blob rank (input dims, outermost first: HW, CHW, CDHW)
ORDERS = {
    2: ["WH", "HW"],
    3: ["WHC", "HWC", "WCH", "CWH", "HCW", "CHW"],
    4: ["WHDC", "HWDC", "WDHC", "DWHC", "HDWC", "DHWC", "WHCD", "HWCD", "WCHD", "CWHD", "HCWD", "CHWD", "WDCH",
        "DWCH", "WCDH", "CWDH", "DCWH", "CDWH", "HDCW", "DHCW", "HCDW", "CHDW", "DCHW", "CDHW"],
}
DIMS = {2: "HW", 3: "CHW", 4: "CDHW"}
PAD_TYPES = {"constant": 0, "replicate": 1, "reflect": 2}  # IR pad mode -> ncnn Padding type


@emits("concat")
def _concat(emitter: Emitter, op: Op) -> None:
    result = op.results[0]
    axis, batch = emitter.axis(result, op.attrs["axis"]), emitter.batch_axis(result)
    bottoms = [emitter.blob_without(v, batch, result.type.rank) for v in op.operands]
    top = emitter.out(op)
    emitter.layer("Concat", top, bottoms, [top], {0: axis})


@emits("split")
def _split(emitter: Emitter, op: Op) -> None:
    axis = emitter.axis(op.operands[0], op.attrs["axis"])
    tops = [emitter.out(op, i) for i in range(len(op.results))]
    emitter.layer("Slice", tops[0], [emitter.blob(op.operands[0])], tops, {0: list(op.attrs["sizes"]), 1: axis})


@emits("slice")
def _slice(emitter: Emitter, op: Op) -> None:
    a = op.attrs
    x = op.operands[0]
    if any(s != 1 for s in a.get("steps") or []):
        raise IrcError("ncnn Crop has no step")
    full = x.type.shape
    starts, ends, axes = [], [], []
    for axis, s, e in zip(a["axes"], a["starts"], a["ends"], strict=True):
        n = full[axis]
        s, e = max(0, s + n if s < 0 else s), min(n, e + n if e < 0 else e)
        if (s, e) == (0, n):
            continue
        starts.append(s)
        ends.append(e)
        axes.append(emitter.axis(x, axis))
    top = emitter.out(op)
    if not axes:
        emitter.alias(op.results[0], emitter.blob(x))
        return
    emitter.layer("Crop", top, [emitter.blob(x)], [top], {9: starts, 10: ends, 11: axes})


@emits("reshape", "squeeze", "unsqueeze")
def _reshape(emitter: Emitter, op: Op) -> None:
    shape = emitter.shape(op.results[0])
    bottom = emitter.blob(op.operands[0])
    top = emitter.out(op)
    if shape == emitter.shape(op.operands[0]):
        emitter.alias(op.results[0], bottom)
        return
    emitter.reshape(bottom, shape, top)


@emits("flatten")
def _flatten(emitter: Emitter, op: Op) -> None:
    if len(emitter.shape(op.results[0])) != 1:
        _reshape(emitter, op)
        return
    top = emitter.out(op)
    emitter.layer("Flatten", top, [emitter.blob(op.operands[0])], [top])


@emits("transpose")
def _transpose(emitter: Emitter, op: Op) -> None:
    perm = list(op.attrs["perm"])
    x = op.operands[0]
    emitter.shape(x)  # at most four dims besides the batch
    batch = emitter.batch_axis(x)
    if batch is None:
        inner = perm
    else:
        emitter.batch[id(op.results[0])] = perm.index(batch)  # the batch goes where the permutation puts it
        inner = [p - (p > batch) for p in perm if p != batch]
    bottom = emitter.blob(x)
    if inner == sorted(inner):
        emitter.alias(op.results[0], bottom)
        return
    letters = DIMS[len(inner)]
    name = "".join(letters[p] for p in reversed(inner))
    top = emitter.out(op)
    emitter.layer("Permute", top, [bottom], [top], {0: ORDERS[len(inner)].index(name)})


@emits("pad")
def _pad(emitter: Emitter, op: Op) -> None:
    a = op.attrs
    pads = [tuple(p) for p in a["pads"]]
    if a["mode"] not in PAD_TYPES:
        raise IrcError(f"ncnn Padding has no {a['mode']} mode")
    batch = emitter.batch_axis(op.operands[0])
    if batch is None or pads[batch] != (0, 0):
        raise IrcError("padding the batch dimension: ncnn blobs have none")
    if any(p < 0 for pair in pads for p in pair):
        raise IrcError("negative padding")
    inner = pads[:batch] + pads[batch + 1:]
    if len(inner) > 3:
        raise IrcError("ncnn Padding pads at most three dimensions")
    params = {4: PAD_TYPES[a["mode"]], 5: a["value"]}
    slots = [(7, 8), (0, 1), (2, 3)][3 - len(inner):]  # (front, behind) c, (top, bottom) h, (left, right) w
    for (before, after), (b, e) in zip(slots, inner, strict=True):
        params[before], params[after] = b, e
    if (params.get(7) or params.get(8)) and a["mode"] != "constant":
        raise IrcError(f"ncnn pads channels only with a constant, not {a['mode']}")
    top = emitter.out(op)
    emitter.layer("Padding", top, [emitter.blob(op.operands[0])], [top], params)


@emits("expand")
def _expand(emitter: Emitter, op: Op) -> None:
    x, r = op.operands[0], op.results[0]
    out_shape = emitter.shape(r)
    in_shape = emitter.without(x, emitter.batch_axis(r), r.type.rank)
    bottom = emitter.blob(x, in_shape)
    top = emitter.out(op)
    if in_shape == out_shape:
        emitter.alias(r, bottom)
        return
    repeats = [o // i for o, i in zip(out_shape, in_shape, strict=True)]
    emitter.layer("Tile", top, [bottom], [top], {2: repeats})


@emits("roll")
def _roll(emitter: Emitter, op: Op) -> None:
    x = op.operands[0]
    cur, top = emitter.blob(x), emitter.out(op)
    pairs = [(shift, axis % x.type.rank) for shift, axis in zip(op.attrs["shifts"], op.attrs["axes"], strict=True)]
    pairs = [(shift % x.type.shape[axis], axis) for shift, axis in pairs if shift % x.type.shape[axis]]
    if not pairs:
        emitter.alias(op.results[0], cur)
        return
    for j, (shift, axis) in enumerate(pairs):
        n, blob_axis = x.type.shape[axis], emitter.axis(x, axis, "rolled axis")
        target = top if j == len(pairs) - 1 else emitter.tmp(top, f"roll{axis}")
        tail, head = emitter.tmp(top, f"tail{axis}"), emitter.tmp(top, f"head{axis}")
        emitter.layer("Crop", tail, [cur], [tail], {9: [n - shift], 10: [n], 11: [blob_axis]})
        emitter.layer("Crop", head, [cur], [head], {9: [0], 10: [n - shift], 11: [blob_axis]})
        cur = emitter.layer("Concat", target, [tail, head], [target], {0: blob_axis})


@emits("gather")
def _gather(emitter: Emitter, op: Op) -> None:
    x, indices = op.operands
    table, picks = emitter.array(x), emitter.array(indices, np.int64)
    if table is None or picks is None:
        raise IrcError("ncnn has no gather of computed values (only constants, folded here)")
    emitter.constants[id(op.results[0])] = np.take(table, picks, axis=op.attrs["axis"])
