"""linear as FullyConnected (its weight [out, in] is MXNet's; `flatten=False` over the last axis of a rank > 2
input); matmul as dot (a rank 2 right-hand side) or batch_dot (rank 3, one batch dim on both sides)."""

from __future__ import annotations

from ...ir import Op
from .emitter import Entry, MxnetEmitter, Refused, emits


@emits("linear")
def linear(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    weight = op.operands[1].type.shape
    attrs = {"num_hidden": weight[0], "no_bias": len(op.operands) < 3}
    if op.operands[0].type.rank != 2:
        attrs["flatten"] = False
    inputs = [emitter.operand(op, 0, ins), emitter.weight(op.operands[1], f"{outs[0]}_weight")]
    if len(op.operands) > 2:
        inputs.append(emitter.weight(op.operands[2], f"{outs[0]}_bias"))
    return emitter.node("FullyConnected", outs[0], inputs, attrs)


@emits("matmul")
def matmul(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    a, b = (v.type for v in op.operands)
    inputs = [emitter.operand(op, 0, ins), emitter.operand(op, 1, ins)]
    if b.rank == 2 and a.rank >= 2:  # dot contracts a's last axis with b's first
        return emitter.node("dot", outs[0], inputs)
    if a.rank == b.rank == 3 and a.shape[0] == b.shape[0]:
        return emitter.node("batch_dot", outs[0], inputs)
    raise Refused(f"matmul of {a} and {b}: only a rank 2 right-hand side (dot) or rank 3 with one batch (batch_dot)")
