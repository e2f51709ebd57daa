"""ATen upsampling → nn.upsample."""

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
