"""ONNX for matrix products (irc/ir/ops/linalg.py): linear is Gemm on rank 2, else MatMul (+ Add)."""

from __future__ import annotations

from ...ir import Op
from ...ir.layout import permutation
from .emitter import Emitter, emits


@emits("matmul")
def _matmul(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    emitter.node("MatMul", ins, outs[0])


@emits("linear")
def _linear(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    x = op.operands[0].type
    if x.rank == 2:
        emitter.node("Gemm", ins, outs[0], transB=1)
        return
    wt = emitter.transpose(ins[1], permutation("OI", "IO"), emitter.tmp(outs[0], "weight_t"))
    if len(ins) < 3:
        emitter.node("MatMul", [ins[0], wt], outs[0])
        return
    mm = emitter.node("MatMul", [ins[0], wt], emitter.tmp(outs[0], "matmul"))
    emitter.node("Add", [mm, ins[2]], outs[0])
