"""linear: an InnerProduct over the last axis (its weight [out, in] is Caffe's)."""

from __future__ import annotations

from ...ir import Op
from .emitter import CaffeEmitter, Refused, emits


@emits("linear")
def linear(emitter: CaffeEmitter, op: Op, ins: list, outs: list) -> None:
    if ins[0] is None:
        raise Refused("the input is a weight")
    weight = op.operands[1].type.shape
    param = {"num_output": weight[0], "bias_term": len(op.operands) > 2, "axis": op.operands[0].type.rank - 1}
    blobs = [emitter.array(v) for v in op.operands[1:]]
    emitter.layer("InnerProduct", outs[0], ins[:1], outs, blobs, inner_product_param=param)
