"""ONNX for reductions (irc/ir/ops/reduce.py): one Reduce* node each (axes as input or attribute by opset)."""

from __future__ import annotations

from ...ir import Op
from .emitter import Emitter, Handler, emits

REDUCTIONS = {"mean": "ReduceMean", "sum": "ReduceSum", "reduce_max": "ReduceMax", "reduce_min": "ReduceMin"}


def _reduction(kind: str) -> Handler:
    def emit(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
        emitter.reduce(kind, ins[0], op.attrs["axes"], outs[0], op.attrs["keepdims"])

    return emit


for _ir, _onnx in REDUCTIONS.items():
    emits(_ir)(_reduction(_onnx))
