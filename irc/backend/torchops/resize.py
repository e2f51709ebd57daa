"""Torch expressions for resizing (irc/ir/ops/resize.py)."""

from __future__ import annotations

from .conv import _layout
from .base import lit, lower


@lower("upsample")
def upsample(ctx, op):
    a = op.attrs
    how = f"size={lit(a['size'])}" if a.get("size") is not None else f"scale_factor={lit(a['scales'])}"
    extra = f", align_corners={a['align_corners']}" if a["mode"] == "bilinear" else ""
    return _layout(op, ctx.arg(0), lambda x: f"F.interpolate({x}, {how}, mode={lit(a['mode'])}{extra})")
