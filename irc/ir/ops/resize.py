"""Resizing and sampling."""

from __future__ import annotations

from ..core import TensorType
from .registry import ABSENT, Attr, ShapeError, check_len, define, need_float, need_rank, same_dtype


def _spatial_dims(x: TensorType, layout: str) -> list:
    """The spatial dims of a rank 3..5 activation, channels first ("nchw") or last ("nhwc")."""
    need_rank(x, (3, 4, 5))
    return list(x.shape[2:]) if layout == "nchw" else list(x.shape[1:-1])


def _with_spatial(x: TensorType, layout: str, spatial: list) -> TensorType:
    if layout == "nchw":
        return x.with_shape(list(x.shape[:2]) + spatial)
    return x.with_shape([x.shape[0]] + spatial + [x.shape[-1]])


def infer_upsample(ins: list[TensorType], attrs: dict) -> TensorType:
    x = ins[0]
    size, scales = attrs.get("size"), attrs.get("scales")
    if (size is None) == (scales is None):
        raise ShapeError("nn.upsample needs exactly one of 'size' and 'scales'")
    spatial = _spatial_dims(x, attrs["layout"])
    check_len(attrs, len(spatial), "size", "scales")
    if attrs["align_corners"] and attrs["mode"] == "nearest":
        raise ShapeError("align_corners applies to bilinear mode only")
    given = size if size is not None else scales
    if any(s <= 0 for s in given):
        raise ShapeError(f"{'size' if size is not None else 'scales'} must be positive, got {given}")
    if size is not None:
        out = list(size)
    else:
        out = [None if d is None else int(d * s) for d, s in zip(spatial, scales, strict=True)]
    return _with_spatial(x, attrs["layout"], out)


define("upsample", "resize", ("input",),
       [Attr("mode", "enum", "nearest", ("nearest", "bilinear")),
        Attr("size", "ints", ABSENT, doc="output spatial size: [W], [H, W] or [D, H, W]"),
        Attr("scales", "floats", ABSENT, doc="one scale per spatial dim; output = floor(input * scale)"),
        Attr("align_corners", "bool", False)],
       infer_upsample, spatial=True,
       doc="Resizes the spatial dims of a 3-D, 4-D or 5-D activation (torch.nn.functional.interpolate); "
           "\"bilinear\" interpolates linearly along every spatial dim (torch's linear, bilinear and trilinear "
           "by rank); with `scales` the sampling uses the scale itself.")


def infer_grid_sample(ins: list[TensorType], attrs: dict) -> TensorType:
    x, grid = ins
    need_float(x)
    same_dtype(ins)
    need_rank(x, 4)
    need_rank(grid, 4, "grid")
    if grid.shape[3] not in (2, None):
        raise ShapeError(f"grid must be [N, H_out, W_out, 2], got {grid}")
    return x.with_shape([x.shape[0], x.shape[1], grid.shape[1], grid.shape[2]])


define("grid_sample", "resize", ("input", "grid"),
       [Attr("mode", "enum", "bilinear", ("bilinear", "nearest")),
        Attr("padding_mode", "enum", "zeros", ("zeros", "border", "reflection")),
        Attr("align_corners", "bool", False)],
       infer_grid_sample,
       doc="Samples input [N, C, H, W] at the normalised (x, y) positions of grid [N, H_out, W_out, 2] "
           "(torch.nn.functional.grid_sample, ONNX GridSample); the result is [N, C, H_out, W_out].")
