"""Torch expressions for constants and casts (irc/ir/ops/core_ops.py). nn.param is bound by the
executor and the emitter themselves, since each keeps weights its own way."""

from __future__ import annotations

from .base import TORCH_DTYPE, lit, lower


def constant_expr(dense) -> str:
    dtype = TORCH_DTYPE[dense.type.dtype]
    if dense.is_splat:
        return f"torch.full({lit(list(dense.type.shape))}, {lit(dense.values)}, dtype={dtype})"
    return f"torch.tensor({_nested(dense.values)}, dtype={dtype})"


def _nested(v) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_nested(x) for x in v) + "]"
    return lit(v)


@lower("constant")
def constant(ctx, op):
    return constant_expr(op.attrs["value"])


@lower("cast")
def cast(ctx, op):
    return f"{ctx.arg(0)}.to({TORCH_DTYPE[op.attrs['dtype']]})"
