"""ATen upsampling → nn.upsample (1-D, 2-D and 3-D), grid sampling → nn.grid_sample."""

from __future__ import annotations

import torch

from ..core import Unsupported
from .importer import imports, static_list

aten = torch.ops.aten


def _upsample(importer, node, x, mode, output_size, scales, align_corners=False):
    attrs = {"mode": mode}
    if mode == "bilinear":
        attrs["align_corners"] = bool(align_corners)
    if output_size is not None:
        attrs["size"] = static_list(output_size, "output size")
    elif scales is not None:
        attrs["scales"] = [float(s) for s in scales]
    else:
        raise Unsupported("upsampling needs a size or scale factors")
    return importer.result("upsample", [importer.operand(x)], attrs)


@imports(aten.upsample_nearest2d.vec)
def _up_nearest_vec(importer, node, x, output_size, scales):
    return _upsample(importer, node, x, "nearest", output_size, scales)


@imports(aten.upsample_nearest2d.default)
def _up_nearest(importer, node, x, output_size, scales_h=None, scales_w=None):
    return _upsample(importer, node, x, "nearest", output_size, None)


@imports(aten.upsample_bilinear2d.vec)
def _up_bilinear_vec(importer, node, x, output_size, align_corners, scales):
    return _upsample(importer, node, x, "bilinear", output_size, scales, align_corners)


@imports(aten.upsample_bilinear2d.default)
def _up_bilinear(importer, node, x, output_size, align_corners, scales_h=None, scales_w=None):
    return _upsample(importer, node, x, "bilinear", output_size, None, align_corners)


# -- 1-D and 3-D: the same op over one or three spatial dims

@imports(aten.upsample_nearest1d.vec, aten.upsample_nearest3d.vec)
def _up_nearest_nd_vec(importer, node, x, output_size, scales):
    return _upsample(importer, node, x, "nearest", output_size, scales)


@imports(aten.upsample_nearest1d.default, aten.upsample_nearest3d.default)
def _up_nearest_nd(importer, node, x, output_size, *scales):
    return _upsample(importer, node, x, "nearest", output_size, None)


@imports(aten.upsample_linear1d.vec, aten.upsample_trilinear3d.vec)
def _up_linear_nd_vec(importer, node, x, output_size, align_corners, scales):
    return _upsample(importer, node, x, "bilinear", output_size, scales, align_corners)


@imports(aten.upsample_linear1d.default, aten.upsample_trilinear3d.default)
def _up_linear_nd(importer, node, x, output_size, align_corners, *scales):
    return _upsample(importer, node, x, "bilinear", output_size, None, align_corners)


_GRID_MODES = {0: "bilinear", 1: "nearest"}
_GRID_PADDING = {0: "zeros", 1: "border", 2: "reflection"}


@imports(aten.grid_sampler_2d.default, aten.grid_sampler.default)
def _grid_sample(importer, node, x, grid, mode, padding_mode, align_corners):
    if mode not in _GRID_MODES:
        raise Unsupported("grid_sample with bicubic interpolation is not supported")
    v = importer.operand(x)
    return importer.result("grid_sample", [v, importer.operand(grid, v.type.dtype)],
                           {"mode": _GRID_MODES[mode], "padding_mode": _GRID_PADDING[padding_mode],
                            "align_corners": bool(align_corners)})
