"""CoreML for data movement (irc/ir/ops/shape.py): concat, split, slice, reshape, flatten, transpose, pad,
squeeze, unsqueeze, gather, expand, tile.

Shapes are static (the driver requires it), so reshape and flatten write the result's shape literally and
slice writes begin/end/stride for every axis (`slice_by_index`). pad takes the trailing padded axes only
(MIL pads the last N); circular padding has no MIL form. expand is a `tile` after any leading unit axes are added.
"""

from __future__ import annotations

from ...ir import IrcError, Op
from .emitter import Emitter, emits

PAD_MODES = ("constant", "reflect", "replicate")  # IR pad modes MIL's pad takes by the same name


@emits("concat")
def _concat(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    return emitter.mb.concat(values=list(ins), axis=op.attrs["axis"], name=names[0])


@emits("split")
def _split(emitter: Emitter, op: Op, ins: list, names: list) -> list:
    return list(emitter.mb.split(x=ins[0], split_sizes=list(op.attrs["sizes"]), axis=op.attrs["axis"],
                                 name=names[0]))


@emits("reshape", "flatten")
def _reshape(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    return emitter.mb.reshape(x=ins[0], shape=list(op.results[0].type.shape), name=names[0])


@emits("transpose")
def _transpose(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    return emitter.mb.transpose(x=ins[0], perm=list(op.attrs["perm"]), name=names[0])


@emits("squeeze")
def _squeeze(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    return emitter.mb.squeeze(x=ins[0], axes=list(op.attrs["axes"]), name=names[0])


@emits("unsqueeze")
def _unsqueeze(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    return emitter.mb.expand_dims(x=ins[0], axes=list(op.attrs["axes"]), name=names[0])


@emits("slice")
def _slice(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    a = op.attrs
    shape = op.operands[0].type.shape
    begin, end, stride = [0] * len(shape), list(shape), [1] * len(shape)
    steps = a.get("steps") or [1] * len(a["axes"])
    for axis, start, stop, step in zip(a["axes"], a["starts"], a["ends"], steps, strict=True):
        axis %= len(shape)
        s, e, st = slice(start, stop, step).indices(shape[axis])
        begin[axis], end[axis], stride[axis] = s, e, st
    return emitter.mb.slice_by_index(x=ins[0], begin=begin, end=end, stride=stride, name=names[0])


@emits("pad")
def _pad(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    mode = op.attrs["mode"]
    if mode not in PAD_MODES:
        raise IrcError(f"{mode} padding has no MIL form")
    pairs = [list(p) for p in op.attrs["pads"]]
    while len(pairs) > 1 and pairs[0] == [0, 0]:
        pairs.pop(0)
    flat = [int(v) for pair in pairs for v in pair]
    return emitter.mb.pad(x=ins[0], pad=flat, mode=mode, constant_val=float(op.attrs["value"]), name=names[0])


@emits("gather")
def _gather(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    return emitter.mb.gather(x=ins[0], indices=ins[1], axis=op.attrs["axis"], name=names[0])


@emits("expand")
def _expand(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    x = ins[0]
    have, want = list(op.operands[0].type.shape), list(op.results[0].type.shape)
    if len(have) < len(want):
        lead = list(range(len(want) - len(have)))
        x = emitter.mb.expand_dims(x=x, axes=lead, name=emitter.tmp(names[0], "rank"))
        have = [1] * len(lead) + have
    reps = [w // h if h else 1 for h, w in zip(have, want, strict=True)]
    return emitter.mb.tile(x=x, reps=reps, name=names[0])


@emits("tile")
def _tile(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    return emitter.mb.tile(x=ins[0], reps=list(op.attrs["repeats"]), name=names[0])
