"""Resizing and sampling (irc/ir/ops/resize.py): torch expressions."""

from __future__ import annotations

from ...ir.core import Op
from .base import DEFAULT, Ctx, call, emits, in_nchw, unless

LINEAR_BY_RANK = {3: "linear", 4: "bilinear", 5: "trilinear"}  # torch's name for linear interpolation


@emits("upsample")
def upsample(ctx: Ctx, op: Op) -> str:
    attrs = op.attrs
    by_size = attrs.get("size") is not None
    align = attrs["align_corners"] if attrs["mode"] == "bilinear" else DEFAULT
    mode = LINEAR_BY_RANK[op.operands[0].type.rank] if attrs["mode"] == "bilinear" else attrs["mode"]
    return in_nchw(op, ctx.arg(0), lambda x: call(
        "F.interpolate", x, size=attrs["size"] if by_size else DEFAULT,
        scale_factor=DEFAULT if by_size else attrs["scales"], mode=mode, align_corners=align))


@emits("grid_sample")
def grid_sample(ctx: Ctx, op: Op) -> str:
    attrs = op.attrs
    return call("F.grid_sample", ctx.arg(0), ctx.arg(1), mode=unless(attrs["mode"], "bilinear"),
                padding_mode=unless(attrs["padding_mode"], "zeros"), align_corners=attrs["align_corners"])
