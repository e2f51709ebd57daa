"""Resizing."""

from __future__ import annotations

from ..core import TensorType
from .conv import join_nchw, split_nchw
from .registry import ABSENT, Attr, ShapeError, check_len, define


def infer_upsample(ins: list[TensorType], attrs: dict) -> TensorType:
    x = ins[0]
    size, scales = attrs.get("size"), attrs.get("scales")
    if (size is None) == (scales is None):
        raise ShapeError("nn.upsample needs exactly one of 'size' and 'scales'")
    check_len(attrs, 2, "size", "scales")
    if attrs["align_corners"] and attrs["mode"] == "nearest":
        raise ShapeError("align_corners applies to bilinear mode only")
    n, c, h, w = split_nchw(x, attrs["layout"])
    if size is not None:
        if any(s <= 0 for s in size):
            raise ShapeError(f"size must be positive, got {size}")
        oh, ow = size
    else:
        if any(s <= 0 for s in scales):
            raise ShapeError(f"scales must be positive, got {scales}")
        oh = None if h is None else int(h * scales[0])
        ow = None if w is None else int(w * scales[1])
    return join_nchw(n, c, oh, ow, attrs["layout"], x.dtype)


define("upsample", "resize", ("input",),
       [Attr("mode", "enum", "nearest", ("nearest", "bilinear")),
        Attr("size", "ints", ABSENT, doc="output [H, W]"),
        Attr("scales", "floats", ABSENT, doc="[scale_h, scale_w]; output = floor(input * scale)"),
        Attr("align_corners", "bool", False)],
       infer_upsample, spatial=True,
       doc="Resizes H and W (torch.nn.functional.interpolate); with `scales` the sampling uses the scale itself.")
