"""Resizing (irc/ir/ops/resize.py): torch expressions."""

from __future__ import annotations

from ...ir.core import Op
from .base import DEFAULT, Ctx, call, emits, in_nchw


@emits("upsample")
def upsample(ctx: Ctx, op: Op) -> str:
    attrs = op.attrs
    by_size = attrs.get("size") is not None
    align = attrs["align_corners"] if attrs["mode"] == "bilinear" else DEFAULT
    return in_nchw(op, ctx.arg(0), lambda x: call(
        "F.interpolate", x, size=attrs["size"] if by_size else DEFAULT,
        scale_factor=DEFAULT if by_size else attrs["scales"], mode=attrs["mode"], align_corners=align))
