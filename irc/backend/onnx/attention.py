"""ONNX for attention (irc/ir/ops/attention.py): scaled_dot_product_attention as MatMul/Softmax/MatMul."""

from __future__ import annotations

import math

import numpy as np

from ...ir import IrcError, Op
from ...ir.dtypes import to_store_dtype
from .emitter import Emitter, emits


@emits("scaled_dot_product_attention")
def _scaled_dot_product_attention(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    out = outs[0]
    scores = _scores(emitter, op, ins, out)
    if len(ins) > 3:
        if op.operands[3].type.dtype == "i1":
            neg = emitter.scalar(out, "neg_inf", -np.inf, op.operands[0].type.dtype)
            scores = emitter.node("Where", [ins[3], scores, neg], emitter.tmp(out, "masked"))
        else:
            scores = emitter.node("Add", [scores, ins[3]], emitter.tmp(out, "masked"))
    if op.attrs["is_causal"]:
        scores = _causal(emitter, op, scores, out)
    p = emitter.node("Softmax", [scores], emitter.tmp(out, "probs"), axis=-1)
    emitter.node("MatMul", [p, ins[2]], out)


def _scores(emitter: Emitter, op: Op, ins: list, out: str) -> str:
    """q @ k^T * scale, with q and k scaled by sqrt(scale) each, as PyTorch's math kernel does."""
    q, k = op.operands[0].type, op.operands[1].type
    scale = op.attrs.get("scale")
    if scale is None:
        if q.shape[-1] is None:
            raise IrcError("the default scale needs a static head dimension")
        scale = 1.0 / math.sqrt(q.shape[-1])
    perm = list(range(k.rank))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    kt = emitter.transpose(ins[1], perm, emitter.tmp(out, "key_t"))
    s = emitter.scalar(out, "scale", math.sqrt(scale), q.dtype)
    qs = emitter.node("Mul", [ins[0], s], emitter.tmp(out, "q_scaled"))
    ks = emitter.node("Mul", [kt, s], emitter.tmp(out, "k_scaled"))
    return emitter.node("MatMul", [qs, ks], emitter.tmp(out, "scores"))


def _causal(emitter: Emitter, op: Op, scores: str, out: str) -> str:
    """An additive 0 / -inf lower-triangular mask: exact, and plain arithmetic for any reader of the file."""
    q, k = op.operands[0].type, op.operands[1].type
    n_query, n_key = q.shape[-2], k.shape[-2]
    if n_query is None or n_key is None:
        raise IrcError("is_causal needs static sequence lengths")
    dt = q.dtype
    mask = to_store_dtype(np.where(np.tril(np.ones((n_query, n_key), dtype=bool)), 0.0, -np.inf), dt)  # bf16: bits
    m = emitter.init(f"{out}__causal", mask, dt)
    return emitter.node("Add", [scores, m], emitter.tmp(out, "causal"))
