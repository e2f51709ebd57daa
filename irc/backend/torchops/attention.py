"""Torch expressions for attention (irc/ir/ops/attention.py)."""

from __future__ import annotations

from .base import lit, lower


@lower("scaled_dot_product_attention")
def sdpa(ctx, op):
    a = op.attrs
    extra = ""
    if len(op.operands) > 3:
        extra += f", attn_mask={ctx.arg(3)}"
    if a.get("is_causal"):
        extra += ", is_causal=True"
    if a.get("scale") is not None:
        extra += f", scale={lit(a['scale'])}"
    return f"F.scaled_dot_product_attention({ctx.arg(0)}, {ctx.arg(1)}, {ctx.arg(2)}{extra})"
