"""Reductions (irc/ir/ops/reduce.py): torch expressions."""

from __future__ import annotations

from ...ir.core import Op
from .base import Ctx, call, emits, unless

CALLS = {"mean": "torch.mean", "sum": "torch.sum", "reduce_max": "torch.amax", "reduce_min": "torch.amin"}


def _reduction(fn: str):
    def emit(ctx: Ctx, op: Op) -> str:
        return call(fn, ctx.arg(0), dim=op.attrs["axes"], keepdim=unless(op.attrs["keepdims"], False))
    return emit


for _name, _fn in CALLS.items():
    emits(_name)(_reduction(_fn))
