"""ONNX for data movement (irc/ir/ops/shape.py): concat, split, slice, reshape, flatten, pad, expand, ..."""

from __future__ import annotations

from ...ir import IrcError, Op
from ...ir.core import INT64_MAX
from ...ir.ops import OPS
from .emitter import Emitter, emits

PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}  # IR pad mode -> ONNX Pad's


@emits("concat")
def _concat(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    emitter.node("Concat", ins, outs[0], axis=op.attrs["axis"])


@emits("split")
def _split(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    emitter.node("Split", [ins[0], emitter.ints(outs[0], "sizes", op.attrs["sizes"])], outs, axis=op.attrs["axis"])


@emits("slice")
def _slice(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    a = op.attrs
    emitter.slice(ins[0], a["axes"], a["starts"], a["ends"], outs[0], a.get("steps"))


@emits("reshape")
def _reshape(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    emitter.node("Reshape", [ins[0], emitter.ints(outs[0], "shape", op.attrs["shape"])], outs[0])


def reshape_to(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    """A reshape to the op's (possibly partly dynamic) result type: static dims literally, dynamic dims the
    input carries at the same index (the op's `dim_map` rule) as 0, at most one other dynamic dim as -1."""
    x, r = op.operands[0].type, op.results[0].type
    carried = OPS[op.name].rule("dim_map")(op)
    target = []
    for i, d in enumerate(r.shape):
        if d is not None:
            target.append(d)
        elif carried.get(i) == i and x.shape[i] is None:
            target.append(0)
        else:
            target.append(-1)
    if target.count(-1) > 1:
        raise IrcError(f"cannot write {x} -> {r} as one ONNX Reshape")
    if any(d == 0 for d in r.shape):
        raise IrcError("zero-sized dimensions are not supported")
    emitter.node("Reshape", [ins[0], emitter.ints(outs[0], "shape", target)], outs[0])


@emits("flatten")
def _flatten(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    x = op.operands[0].type
    start = op.attrs["start_axis"] % max(x.rank, 1)
    end = op.attrs["end_axis"] % max(x.rank, 1)
    if x.rank >= 2 and start == 1 and end == x.rank - 1:
        emitter.node("Flatten", ins, outs[0], axis=1)
        return
    reshape_to(emitter, op, ins, outs)


@emits("squeeze")
def _squeeze(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    emitter.node("Squeeze", [ins[0], emitter.ints(outs[0], "axes", op.attrs["axes"])], outs[0])


@emits("unsqueeze")
def _unsqueeze(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    emitter.unsqueeze(ins[0], op.attrs["axes"], outs[0])


@emits("transpose")
def _transpose(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    emitter.transpose(ins[0], op.attrs["perm"], outs[0])


@emits("pad")
def _pad(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    a = op.attrs
    pads, out = a["pads"], outs[0]
    if a["mode"] == "circular":
        _pad_circular(emitter, ins[0], pads, out)
        return
    flat = [b for b, _ in pads] + [en for _, en in pads]
    mode = PAD_MODES[a["mode"]]
    args = [ins[0], emitter.ints(out, "pads", flat)]
    if mode == "constant" and a["value"] != 0.0:
        args.append(emitter.scalar(out, "value", a["value"], op.operands[0].type.dtype))
    emitter.node("Pad", args, out, mode=mode)


def _pad_circular(emitter: Emitter, x: str, pads: list, out: str) -> None:
    """Circular padding: per axis, Concat(the last `begin` elements, x, the first `end` elements)."""
    cur = x
    todo = [(ax, b, en) for ax, (b, en) in enumerate(pads) if b or en]
    for j, (ax, b, en) in enumerate(todo):
        if b < 0 or en < 0:
            raise IrcError("circular padding must not be negative")
        parts = []
        if b:
            parts.append(emitter.slice(cur, [ax], [-b], [INT64_MAX], emitter.tmp(out, f"wrap_b{ax}")))
        parts.append(cur)
        if en:
            parts.append(emitter.slice(cur, [ax], [0], [en], emitter.tmp(out, f"wrap_e{ax}")))
        cur = emitter.node("Concat", parts, out if j == len(todo) - 1 else emitter.tmp(out, f"wrap{ax}"), axis=ax)
    if not todo:
        emitter.node("Identity", [cur], out)


@emits("expand")
def _expand(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    x = op.operands[0].type
    target = list(op.attrs["shape"])
    lead = len(target) - x.rank
    shape = [1 if t == -1 else t for t in target]  # ONNX Expand broadcasts: 1 keeps the input's dim
    for i in range(lead, len(target)):
        if target[i] != -1 and x.shape[i - lead] is None:
            shape[i] = target[i]
    emitter.node("Expand", [ins[0], emitter.ints(outs[0], "shape", shape)], outs[0])


@emits("expand_like")
def _expand_like(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    out = outs[0]
    target = [1 if t == -1 else t for t in op.attrs["shape"]]
    like = {i: j for i, j in op.attrs["like_dims"]}
    like_rank = op.operands[1].type.rank
    shape = emitter.node("Shape", [ins[1]], emitter.tmp(out, "like_shape"))
    parts = []
    for i, t in enumerate(target):
        if i in like:
            j = like[i] % like_rank
            parts.append(emitter.node("Gather", [shape, emitter.ints(out, f"dim{i}", [j])], emitter.tmp(out, f"d{i}"),
                                      axis=0))
        else:
            parts.append(emitter.ints(out, f"c{i}", [t]))
    dims = emitter.node("Concat", parts, emitter.tmp(out, "shape"), axis=0)
    emitter.node("Expand", [ins[0], dims], out)


@emits("roll")
def _roll(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    x = op.operands[0].type
    cur, out = ins[0], outs[0]
    pairs = list(zip(op.attrs["shifts"], op.attrs["axes"], strict=True))
    for j, (shift, ax) in enumerate(pairs):
        ax %= x.rank
        n = x.shape[ax]
        if n is None:
            raise IrcError(f"roll along dynamic dimension {ax}")
        s = shift % n
        target = out if j == len(pairs) - 1 else emitter.tmp(out, f"roll{ax}")
        if s == 0:
            cur = emitter.node("Identity", [cur], target)
            continue
        tail = emitter.slice(cur, [ax], [n - s], [n], emitter.tmp(out, f"tail{ax}"))
        head = emitter.slice(cur, [ax], [0], [n - s], emitter.tmp(out, f"head{ax}"))
        cur = emitter.node("Concat", [tail, head], target, axis=ax)


@emits("gather")
def _gather(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    emitter.node("Gather", ins, outs[0], axis=op.attrs["axis"])


@emits("gather_elements")
def _gather_elements(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    emitter.node("GatherElements", ins, outs[0], axis=op.attrs["axis"])


@emits("tile")
def _tile(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    emitter.node("Tile", [ins[0], emitter.ints(outs[0], "repeats", op.attrs["repeats"])], outs[0])
