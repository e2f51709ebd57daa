"""Constants and casts (irc/ir/ops/core_ops.py): torch expressions. nn.param is bound by the executor
and the emitter themselves, since each keeps weights its own way."""

from __future__ import annotations

from ...ir.core import DenseAttr, Op
from .base import Ctx, emits, lit, torch_dtype_text


def constant_expr(dense: DenseAttr) -> str:
    dtype = torch_dtype_text(dense.type.dtype)
    if dense.is_splat:  # one value broadcast (a view: a splat is never materialised)
        scalar = f"torch.tensor({lit(dense.values)}, dtype={dtype})"
        return scalar if not dense.type.shape else f"{scalar}.expand({lit(list(dense.type.shape))})"
    return f"torch.tensor({_nested(dense.values)}, dtype={dtype})"


def _nested(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_nested(x) for x in value) + "]"
    return lit(value)


@emits("constant")
def constant(ctx: Ctx, op: Op) -> str:
    return constant_expr(op.attrs["value"])


@emits("cast")
def cast(ctx: Ctx, op: Op) -> str:
    return f"{ctx.arg(0)}.to({torch_dtype_text(op.attrs['dtype'])})"
