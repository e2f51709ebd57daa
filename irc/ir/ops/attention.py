"""Attention."""

from __future__ import annotations

from ..core import Op, TensorType
from .registry import (
    ABSENT,
    Attr,
    ShapeError,
    broadcast_shapes,
    define,
    dims_equal,
    need_float,
    same_dtype,
    static_numel,
)


def infer_sdpa(ins: list[TensorType], attrs: dict) -> TensorType:
    q, k, v = ins[:3]
    same_dtype([q, k, v], "query, key and value")
    need_float(q, "query")
    for t, what in ((q, "query"), (k, "key"), (v, "value")):
        if t.rank < 2:
            raise ShapeError(f"{what} must have rank 2 or more, got {t}")
    if not dims_equal(q.shape[-1], k.shape[-1]):
        raise ShapeError(f"query {q} and key {k} differ in their last dimension")
    if not dims_equal(k.shape[-2], v.shape[-2]):
        raise ShapeError(f"key {k} and value {v} differ in their sequence dimension")
    batch = broadcast_shapes([q.shape[:-2], k.shape[:-2], v.shape[:-2]])
    if len(ins) > 3:
        m = ins[3]
        if m.dtype != "i1" and m.dtype != q.dtype:
            raise ShapeError(f"mask must be i1 or {q.dtype}, got {m}")
        broadcast_shapes([m.shape, batch + (q.shape[-2], k.shape[-2])])
    if attrs["is_causal"] and len(ins) > 3:
        raise ShapeError("is_causal and a mask cannot both be given")
    return q.with_shape(batch + (q.shape[-2], v.shape[-1]))


def sdpa_flops(op: Op) -> int:
    """Both matrix products (2 FLOPs per multiply-add) and 3 per score for scale, softmax and mask."""
    q, k, out = op.operands[0].type, op.operands[1].type, op.results[0].type
    lq, lk, e = q.shape[-2] or 1, k.shape[-2] or 1, q.shape[-1] or 1
    ev = out.shape[-1] or 1
    heads = static_numel(out) // max(1, lq * ev)
    return heads * (2 * lq * lk * e + 2 * lq * lk * ev + 3 * lq * lk)


define("scaled_dot_product_attention", "attention", ("query", "key", "value", "mask?"),
       [Attr("scale", "float", ABSENT, doc="default 1/sqrt(query.shape[-1])"), Attr("is_causal", "bool", False)],
       infer_sdpa, flops=sdpa_flops,
       doc="softmax(query @ key^T * scale + mask) @ value (torch.nn.functional.scaled_dot_product_attention); "
           "an i1 mask says which positions take part, a float mask is added.")
