"""RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR as nn.upsample to the size tensor's [H, W].

Nearest without half-pixel centers and align_corners is PyTorch's nearest; bilinear with half-pixel
centers is PyTorch's align_corners=False, with align_corners PyTorch's align_corners=True. Other
coordinate modes are refused."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...ir import Value
from ..core import Unsupported
from .importer import imports

if TYPE_CHECKING:
    from .importer import TfliteImporter


@imports("RESIZE_NEAREST_NEIGHBOR")
def resize_nearest(importer: TfliteImporter, operator: object) -> Value:
    o = importer.options
    if o is not None and (o.alignCorners or o.halfPixelCenters):
        raise Unsupported("nearest resizing with align_corners or half_pixel_centers is not supported")
    return importer.emit("upsample", [importer.input(0)],
                         {"mode": "nearest", "size": importer.ints(1, "size"), "layout": "nhwc"})


@imports("RESIZE_BILINEAR")
def resize_bilinear(importer: TfliteImporter, operator: object) -> Value:
    o = importer.options
    if o is None or not (o.alignCorners or o.halfPixelCenters):
        raise Unsupported("bilinear resizing without half_pixel_centers or align_corners (TF1's) is not supported")
    return importer.emit("upsample", [importer.input(0)],
                         {"mode": "bilinear", "size": importer.ints(1, "size"), "align_corners": bool(o.alignCorners),
                          "layout": "nhwc"})
