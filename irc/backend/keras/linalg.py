"""Keras for linalg ops (irc/ir/ops/linalg.py): nn.linear is Dense (the IR's [out, in] weight is Keras'
[in, out] kernel); nn.matmul by a 2-D param is a Dense without bias, else keras.ops.matmul."""

from __future__ import annotations

from ...ir import Op
from .emitter import KerasEmitter, emits


@emits("linear")
def linear(emitter: KerasEmitter, op: Op) -> None:
    w = emitter.weight(op.operands[1])
    weights = [w.T]
    if len(op.operands) > 2:
        weights.append(emitter.weight(op.operands[2], "the bias"))
    emitter.layer(op, "Dense", [str(w.shape[0]), f"use_bias={len(weights) > 1}"], emitter.tensor(op.operands[0]),
                  weights)


@emits("matmul")
def matmul(emitter: KerasEmitter, op: Op) -> None:
    lhs, rhs = op.operands
    w = emitter.constant(rhs)
    if w is not None and w.ndim == 2 and emitter.constant(lhs) is None:
        emitter.layer(op, "Dense", [str(w.shape[1]), "use_bias=False"], emitter.tensor(lhs), [w])
        return
    emitter.ops(op, "matmul", emitter.tensor(lhs), emitter.tensor(rhs))
