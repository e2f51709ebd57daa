"""ncnn for attention (irc/ir/ops/attention.py): scaled_dot_product_attention is MatMul(q, k, transB=1), a
BinaryOp scale, the mask added (a boolean mask as 0 / -FLT_MAX, a causal one as a MemoryData of that), Softmax
over the last axis and MatMul by v. (ncnn's MultiHeadAttention layer includes the projections, which the IR
keeps as separate linear ops.)"""

from __future__ import annotations

import math

import numpy as np

from ...ir import IrcError, Op
from .emitter import Emitter, emits

MUL, ADD = 2, 0  # ncnn BinaryOp op_type
NEG = -3.4028234663852886e38


@emits("scaled_dot_product_attention")
def _sdpa(emitter: Emitter, op: Op) -> None:
    q, k, v = op.operands[:3]
    mask = op.operands[3] if len(op.operands) > 3 else None
    top = emitter.out(op)
    qs = emitter.shape(q)
    scale = op.attrs.get("scale")
    scale = 1.0 / math.sqrt(qs[-1]) if scale is None else scale
    scores = emitter.tmp(top, "scores")
    emitter.layer("MatMul", scores, [emitter.blob(q), emitter.blob(k)], [scores], {0: 1})
    scaled = emitter.tmp(top, "scaled")
    emitter.layer("BinaryOp", scaled, [scores], [scaled], {0: MUL, 1: 1, 2: scale})
    rank = len(qs)
    score_shape = (*qs[:-1], emitter.shape(k)[-2])
    bias = _mask_blob(emitter, op, mask, score_shape)
    if bias is not None:
        masked = emitter.tmp(top, "masked")
        emitter.layer("BinaryOp", masked, [scaled, bias], [masked], {0: ADD})
        scaled = masked
    probs = emitter.tmp(top, "probs")
    emitter.layer("Softmax", probs, [scaled], [probs], {0: rank - 1, 1: 1})
    emitter.layer("MatMul", top, [probs, emitter.blob(v)], [top], {0: 0})


def _mask_blob(emitter: Emitter, op: Op, mask, score_shape: tuple) -> str | None:
    """The additive mask as a blob of the scores' rank (None without one)."""
    top = op.results[0].name
    if op.attrs["is_causal"]:
        if mask is not None:
            raise IrcError("a mask and is_causal together")
        length, source = score_shape[-2], score_shape[-1]
        causal = np.where(np.tril(np.ones((length, source), bool)), 0.0, NEG).astype(np.float32)
        shape = (1,) * (len(score_shape) - 2) + (length, source)
        return emitter.memory_data(emitter.tmp(top, "causal"), causal.reshape(shape))
    if mask is None:
        return None
    arr = emitter.array(mask)
    if arr is None:
        if mask.type.dtype == "bool":
            raise IrcError("a boolean mask computed at run time")
        return emitter.blob(mask, (1,) * (len(score_shape) + 1 - mask.type.rank) + tuple(mask.type.shape[1:]))
    if mask.type.dtype == "bool":
        arr = np.where(arr != 0, 0.0, NEG).astype(np.float32)
    full = arr.reshape((1,) * (len(score_shape) + 1 - arr.ndim) + arr.shape)
    return emitter.memory_data(emitter.tmp(top, "mask"), full.reshape(full.shape[1:]))
