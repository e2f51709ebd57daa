"""Matrix products (irc/ir/ops/linalg.py): torch expressions and nn.Linear."""

from __future__ import annotations

from ...ir.core import Op
from .base import Ctx, ctor_keywords, emits, module_form


@emits("linear")
def linear(ctx: Ctx, op: Op) -> str:
    return f"F.linear({', '.join(ctx.tensors(0, 2))})"


@emits("matmul")
def matmul(ctx: Ctx, op: Op) -> str:
    return f"torch.matmul({ctx.arg(0)}, {ctx.arg(1)})"


@module_form("linear")
def linear_module(op: Op, params: list, dtype: str | None) -> str | None:
    w = params[0]
    if w.rank != 2 or not w.is_static:
        return None
    return (f"nn.Linear({w.shape[1]}, {w.shape[0]}"
            + ctor_keywords([("bias", None if params[1] is not None else False), ("dtype", dtype)]) + ")")
