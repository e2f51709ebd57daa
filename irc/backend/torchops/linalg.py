"""Torch expressions for matrix products (irc/ir/ops/linalg.py)."""

from __future__ import annotations

from .base import lower


@lower("linear")
def linear(ctx, op):
    return f"F.linear({ctx.arg(0)}, {ctx.arg(1)}, {ctx.arg(2)})"


@lower("matmul")
def matmul(ctx, op):
    return f"torch.matmul({ctx.arg(0)}, {ctx.arg(1)})"
