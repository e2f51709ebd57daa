"""Torch expressions for reductions (irc/ir/ops/reduce.py)."""

from __future__ import annotations

from .base import lit, lower

for _name, _fn in {"mean": "torch.mean", "sum": "torch.sum", "reduce_max": "torch.amax",
                   "reduce_min": "torch.amin"}.items():
    lower(_name)(lambda ctx, op, _fn=_fn: f"{_fn}({ctx.arg(0)}, {lit(op.attrs['axes'])}, "
                                          f"keepdim={op.attrs['keepdims']})")
