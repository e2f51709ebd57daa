"""TFLite for linear algebra (irc/ir/ops/linalg.py): linear is FULLY_CONNECTED (weights [out, in] as
PyTorch keeps them, keep_num_dims for inputs of rank above 2); matmul is BATCH_MATMUL."""

from __future__ import annotations

from ...ir import Op
from .emitter import Emitter, emits


@emits("linear")
def _linear(emitter: Emitter, op: Op) -> None:
    ins = [emitter.input(op, i) for i in range(len(op.operands))]
    if len(ins) == 2:
        ins.append(-1)
    act, out = emitter.fused(op)
    emitter.operator("FULLY_CONNECTED", ins, [out], "FullyConnectedOptions", fusedActivationFunction=act,
                     keepNumDims=op.operands[0].type.rank > 2)


@emits("matmul")
def _matmul(emitter: Emitter, op: Op) -> None:
    emitter.operator("BATCH_MATMUL", [emitter.input(op, 0), emitter.input(op, 1)], [emitter.output(op)],
                     "BatchMatMulOptions", adjX=False, adjY=False)
