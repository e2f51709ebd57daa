"""Keras for nn.scaled_dot_product_attention (irc/ir/ops/attention.py) as keras.ops: softmax(q k^T * scale
+ mask) v over the last two axes (PyTorch's [..., L, E] layout; an additive float mask, or a boolean one)."""

from __future__ import annotations

import math

from ...ir import Op
from .emitter import KerasEmitter, NotEmittable, emits, lit


@emits("scaled_dot_product_attention")
def scaled_dot_product_attention(emitter: KerasEmitter, op: Op) -> None:
    if op.attrs["is_causal"]:
        raise NotEmittable("is_causal=true")
    q, k, v = (emitter.tensor(x) for x in op.operands[:3])
    rank = op.operands[0].type.rank
    scale = op.attrs.get("scale")
    scale = 1.0 / math.sqrt(op.operands[0].type.shape[-1]) if scale is None else scale
    perm = list(range(rank - 2)) + [rank - 1, rank - 2]
    base = op.results[0].name
    scores = emitter.assign(base + "_scores", f"keras.ops.multiply(keras.ops.matmul({q}, keras.ops.transpose({k}, "
                            f"{lit(perm)})), {lit(scale)})", "multiply")
    emitter.op_names.update({"matmul", "transpose"})
    if len(op.operands) > 3:
        mask = op.operands[3]
        m = emitter.tensor(mask)
        if mask.type.dtype == "i1":
            scores = emitter.assign(base + "_masked", f"keras.ops.where({m}, {scores}, float('-inf'))", "where")
        else:
            scores = emitter.assign(base + "_masked", f"keras.ops.add({scores}, {m})", "add")
    probs = emitter.assign(base + "_probs", f"keras.ops.softmax({scores}, axis=-1)", "softmax")
    emitter.ops(op, "matmul", probs, v)
