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


@emits("variance")
def variance(ctx: Ctx, op: Op) -> str:
    return call("torch.var", ctx.arg(0), dim=op.attrs["axes"], correction=unless(op.attrs["correction"], 1.0),
                keepdim=unless(op.attrs["keepdims"], False))


def _arg_extremum(fn: str):
    def emit(ctx: Ctx, op: Op) -> str:
        return call(fn, ctx.arg(0), dim=op.attrs["axis"], keepdim=unless(op.attrs["keepdims"], False))
    return emit


emits("argmax")(_arg_extremum("torch.argmax"))
emits("argmin")(_arg_extremum("torch.argmin"))


@emits("cumsum")
def cumsum(ctx: Ctx, op: Op) -> str:
    return call("torch.cumsum", ctx.arg(0), dim=op.attrs["axis"])


@emits("topk")
def topk(ctx: Ctx, op: Op) -> str:
    attrs = op.attrs
    return call("torch.topk", ctx.arg(0), str(attrs["k"]), dim=unless(attrs["axis"], -1),
                largest=unless(attrs["largest"], True), sorted=unless(attrs["sorted"], True))


@emits("sort")
def sort(ctx: Ctx, op: Op) -> str:
    attrs = op.attrs
    return call("torch.sort", ctx.arg(0), dim=unless(attrs["axis"], -1), descending=unless(attrs["descending"], False))
