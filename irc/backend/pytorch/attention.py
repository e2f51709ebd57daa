"""Attention (irc/ir/ops/attention.py): torch expressions."""

from __future__ import annotations

from ...ir.core import Op
from .base import DEFAULT, Ctx, Src, call, emits, unless


@emits("scaled_dot_product_attention")
def scaled_dot_product_attention(ctx: Ctx, op: Op) -> str:
    attrs = op.attrs
    mask = Src(ctx.arg(3)) if len(op.operands) > 3 else DEFAULT
    scale = attrs.get("scale")
    return call("F.scaled_dot_product_attention", ctx.arg(0), ctx.arg(1), ctx.arg(2), attn_mask=mask,
                is_causal=unless(attrs["is_causal"], False), scale=DEFAULT if scale is None else scale)
