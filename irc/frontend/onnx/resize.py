"""Resize and Upsample → nn.upsample (over the spatial dims of a rank-3, 4 or 5 input); GridSample →
nn.grid_sample.

Upsample (opsets 7-9: `scales` an attribute, then an input) and Resize of opset 10 sample asymmetrically: nearest
is PyTorch's when enlarging; their linear mode matches none of irc's bilinear modes and is refused.

Nearest with coordinate mode "asymmetric" and nearest_mode "floor" (PyTorch's nearest), linear with
"align_corners", "half_pixel" (or "pytorch_half_pixel" when no output dim is 1: the two differ only
there, and PyTorch itself samples half_pixel) map to nn.upsample; other modes are reported as
unsupported rather than approximated.

GridSample (opset 16 on; 2-D only) maps its bilinear ("linear" from opset 20) and nearest modes with every
padding mode and align_corners; bicubic ("cubic") is refused.
"""

from __future__ import annotations

import math

from ..core import Unsupported
from .tables import imports
from .values import Shp, Sym, nice_float


def _mode_attrs(mode, coord, nearest_mode) -> dict:
    if mode == "nearest":
        if coord not in ("asymmetric",) or nearest_mode not in ("floor",):
            raise Unsupported(f"Resize nearest with coordinate_transformation_mode '{coord}' and nearest_mode "
                              f"'{nearest_mode}' (irc's nearest is PyTorch's: asymmetric + floor)")
        return {"mode": "nearest"}
    if mode in ("linear", "bilinear"):
        if coord == "align_corners":
            return {"mode": "bilinear", "align_corners": True}
        if coord in ("pytorch_half_pixel", "half_pixel"):
            return {"mode": "bilinear"}
        raise Unsupported(f"Resize linear with coordinate_transformation_mode '{coord}'")
    raise Unsupported(f"Resize mode '{mode}'")


def _size_attrs(x, scales, sizes, attrs) -> list:
    """Put nn.upsample's scales or size into `attrs`; return the output's spatial dims (None when dynamic)."""
    rank = x.type.rank
    if scales is not None and len(scales) > 0:
        scales = [nice_float(s) for s in scales]
        if len(scales) != rank or scales[0] != 1.0 or scales[1] != 1.0:
            raise Unsupported(f"Resize scales {scales} (only the spatial dims may scale)")
        attrs["scales"] = scales[2:]
        return [None if d is None else math.floor(d * s) for d, s in zip(x.type.shape[2:], scales[2:], strict=False)]
    if sizes is not None:
        sizes = [int(s) for s in sizes]
        if len(sizes) == rank:
            if any(d is not None and d != s for d, s in zip(x.type.shape[:2], sizes[:2], strict=False)):
                raise Unsupported(f"Resize sizes {sizes} change N or C")
            sizes = sizes[2:]
        attrs["size"] = sizes
        return sizes
    raise Unsupported("Resize with neither scales nor sizes")


def _upsample(importer, x, scales, sizes, mode, coord, nearest_mode):
    if x.type.rank not in (3, 4, 5):
        raise Unsupported(f"only rank-3, 4 and 5 inputs resize, got {x.type}")
    if importer.opset < 11 and scales is not None and any(float(s) < 1 for s in scales):
        raise Unsupported(f"{importer.node.op_type} scales {[nice_float(s) for s in scales]} below 1 at opset "
                          f"{importer.opset} (its nearest pixel rounds up when shrinking, PyTorch's down)")
    attrs = _mode_attrs(mode, coord, nearest_mode)
    out_spatial = _size_attrs(x, scales, sizes, attrs)
    if coord == "pytorch_half_pixel" and mode != "nearest" and any(o is None or o == 1 for o in out_spatial):
        raise Unsupported("Resize pytorch_half_pixel with an output dimension of 1 (PyTorch itself samples "
                          "half_pixel there)")
    return importer.emit("upsample", [x], attrs)


def _scales_and_sizes(importer, node, rank):
    """Resize's scales and sizes inputs (opset 11 on: inputs 2 and 3; before: scales is input 1)."""
    if importer.opset < 11:
        return list(importer.const(1, "scales").ravel()), None
    scales = sizes = None
    sc = importer.const(2, "scales") if len(node.input) > 2 and node.input[2] else None
    if sc is not None and sc.size:
        scales = list(sc.ravel())
    sz_in = importer.inp(3) if len(node.input) > 3 and node.input[3] else None
    if isinstance(sz_in, Shp):
        arr = sz_in.array.ravel()
        if any(isinstance(v, Sym) for v in arr[2 - rank:]):
            raise Unsupported("Resize to dynamic sizes")
        sizes = [int(v) if not isinstance(v, Sym) else None for v in arr]
        sizes = sizes[2:] if len(sizes) == rank else sizes
    elif sz_in is not None:
        sizes = importer.ints(3, "sizes")
    return scales, sizes


@imports("Resize")
def _resize(importer, node):
    x = importer.val(0)
    if importer.attr("antialias", 0):
        raise Unsupported("Resize with antialias=1")
    if importer.attr("keep_aspect_ratio_policy", "stretch") != "stretch":
        raise Unsupported("keep_aspect_ratio_policy other than stretch")
    axes, rank = importer.attr("axes"), x.type.rank
    scales, sizes = _scales_and_sizes(importer, node, rank)
    if axes is not None:
        axes = [a % rank for a in axes]
        if sorted(axes) != list(range(2, rank)) and not (scales and len(scales) == rank):
            raise Unsupported(f"Resize over axes {axes}")
        if scales is not None and len(scales) == rank - 2:
            scales = [1.0, 1.0] + scales
    coord = importer.attr("coordinate_transformation_mode", "half_pixel" if importer.opset >= 11 else "asymmetric")
    mode = importer.attr("mode", "nearest")
    nearest_mode = importer.attr("nearest_mode", "round_prefer_floor" if importer.opset >= 11 else "floor")
    if importer.opset < 11:
        coord, nearest_mode = "asymmetric", "floor"
    return _upsample(importer, x, scales, sizes, mode, coord, nearest_mode)


@imports("Upsample")
def _upsample_op(importer, node):
    x = importer.val(0)
    scales = importer.attr("scales") if importer.inp(1) is None else list(importer.const(1, "scales").ravel())
    mode = importer.attr("mode", "nearest")
    return _upsample(importer, x, scales, None, mode, "asymmetric", "floor")


GRID_MODES = {"bilinear": "bilinear", "linear": "bilinear", "nearest": "nearest"}


@imports("GridSample")
def _grid_sample(importer, node):
    x, grid = importer.val(0), importer.val(1, "grid")
    if x.type.rank != 4:
        raise Unsupported(f"GridSample of a rank-{x.type.rank} input (irc samples 2-D images only)")
    mode = importer.attr("mode", "linear" if importer.opset >= 20 else "bilinear")
    if mode not in GRID_MODES:
        raise Unsupported(f"GridSample mode '{mode}'")
    return importer.emit("grid_sample", [x, grid], {"mode": GRID_MODES[mode],
                                                    "padding_mode": importer.attr("padding_mode", "zeros"),
                                                    "align_corners": bool(importer.attr("align_corners", 0))})
