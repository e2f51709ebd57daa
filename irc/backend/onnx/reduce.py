"""ONNX for reductions (irc/ir/ops/reduce.py): one Reduce* node each (axes as input or attribute by opset);
variance is ReduceMean/Sub/Mul/ReduceSum/Div; sort is a TopK of the whole axis."""

from __future__ import annotations

import numpy as np

from ...ir import IrcError, Op
from ...ir.dtypes import IR_TO_NP
from .emitter import Emitter, Handler, emits

REDUCTIONS = {"mean": "ReduceMean", "sum": "ReduceSum", "reduce_max": "ReduceMax", "reduce_min": "ReduceMin"}


def _reduction(kind: str) -> Handler:
    def emit(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
        emitter.reduce(kind, ins[0], op.attrs["axes"], outs[0], op.attrs["keepdims"])

    return emit


for _ir, _onnx in REDUCTIONS.items():
    emits(_ir)(_reduction(_onnx))


@emits("variance")
def _variance(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    x, out = op.operands[0].type, outs[0]
    axes = sorted(a % x.rank for a in op.attrs["axes"])
    sizes = [x.shape[a] for a in axes]
    if None in sizes:
        raise IrcError(f"variance over a dynamic dimension of {x}")
    count = float(np.prod(sizes)) - op.attrs["correction"]
    mean = emitter.reduce("ReduceMean", ins[0], axes, emitter.tmp(out, "mean"), True)
    centered = emitter.node("Sub", [ins[0], mean], emitter.tmp(out, "centered"))
    squares = emitter.node("Mul", [centered, centered], emitter.tmp(out, "squares"))
    total = emitter.reduce("ReduceSum", squares, axes, emitter.tmp(out, "total"), op.attrs["keepdims"], "axes_sum")
    divisor = emitter.init(f"{out}__count", np.asarray(count, dtype=IR_TO_NP[x.dtype]), x.dtype)
    emitter.node("Div", [total, divisor], out)


def _arg_extremum(kind: str):
    def emit(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
        emitter.node(kind, ins, outs[0], axis=op.attrs["axis"], keepdims=int(op.attrs["keepdims"]))
    return emit


emits("argmax")(_arg_extremum("ArgMax"))
emits("argmin")(_arg_extremum("ArgMin"))


@emits("cumsum")
def _cumsum(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    axis = emitter.init(f"{outs[0]}__axis", np.asarray(op.attrs["axis"], dtype=np.int64))
    emitter.node("CumSum", [ins[0], axis], outs[0])


def _top(emitter: Emitter, x: str, k: int, axis: int, largest: bool, outs: list) -> None:
    emitter.node("TopK", [x, emitter.ints(outs[0], "k", [k])], outs, axis=axis, largest=int(largest), sorted=1)


@emits("topk")
def _topk(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    _top(emitter, ins[0], op.attrs["k"], op.attrs["axis"], op.attrs["largest"], outs)


@emits("sort")
def _sort(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    x = op.operands[0].type
    n = x.shape[op.attrs["axis"] % x.rank]
    if n is None:
        raise IrcError(f"sort along a dynamic dimension of {x}")
    _top(emitter, ins[0], n, op.attrs["axis"], op.attrs["descending"], outs)
