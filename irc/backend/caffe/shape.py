"""concat, split, flatten, reshape and transpose: Concat, Slice, Flatten, Reshape and Permute."""

from __future__ import annotations

import itertools
import math

from ...ir import Op
from .emitter import CaffeEmitter, Refused, emits


def _activations(ins: list) -> list:
    if None in ins:
        raise Refused("an operand is a weight")
    return ins


@emits("concat")
def concat(emitter: CaffeEmitter, op: Op, ins: list, outs: list) -> None:
    axis = op.attrs["axis"] % op.results[0].type.rank
    emitter.layer("Concat", outs[0], _activations(ins), outs, concat_param={"axis": axis})


@emits("split")
def split(emitter: CaffeEmitter, op: Op, ins: list, outs: list) -> None:
    axis = op.attrs["axis"] % op.operands[0].type.rank
    points = list(itertools.accumulate(op.attrs["sizes"]))[:-1]
    emitter.layer("Slice", outs[0], _activations(ins), outs, slice_param={"axis": axis, "slice_point": points})


@emits("flatten")
def flatten(emitter: CaffeEmitter, op: Op, ins: list, outs: list) -> None:
    param = {"axis": op.attrs["start_axis"], "end_axis": op.attrs["end_axis"]}
    emitter.layer("Flatten", outs[0], _activations(ins), outs, flatten_param=param)


@emits("reshape")
def reshape(emitter: CaffeEmitter, op: Op, ins: list, outs: list) -> None:
    src, dst = op.operands[0].type.shape, op.results[0].type.shape
    if None in src or None in dst:
        raise Refused("a dynamic dim")
    if len(dst) == 2 and dst[0] == src[0] and dst[1] == math.prod(src[1:]):
        emitter.layer("Flatten", outs[0], _activations(ins), outs, flatten_param={"axis": 1})
        return
    emitter.layer("Reshape", outs[0], _activations(ins), outs, reshape_param={"shape": {"dim": list(dst)}})


@emits("transpose")
def transpose(emitter: CaffeEmitter, op: Op, ins: list, outs: list) -> None:
    emitter.layer("Permute", outs[0], _activations(ins), outs, permute_param={"order": list(op.attrs["perm"])})
