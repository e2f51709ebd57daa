"""UpSampling (nearest, one integer scale) and contrib BilinearResize2D (height/width or scale_height/scale_width,
align_corners as given: MXNet's default is True) as upsample to the output size."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...ir import Value
from ..core import Unsupported
from .importer import Node, imports

if TYPE_CHECKING:
    from .importer import MxnetImporter


@imports("UpSampling")
def upsampling(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    if node.text("sample_type", "nearest") != "nearest":
        raise Unsupported(f"sample_type {node.text('sample_type')} (a learned deconvolution): only nearest")
    if len(ins) != 1:
        raise Unsupported(f"{len(ins)} inputs: only one")
    scale = node.integer("scale", 1)
    h, w = ins[0].type.shape[2:]
    return importer.emit("upsample", ins[:1], {"mode": "nearest", "size": [h * scale, w * scale]})


@imports("_contrib_BilinearResize2D")
def bilinear_resize(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    if node.text("mode", "size") not in ("size", "odd_scale"):
        raise Unsupported(f"mode {node.text('mode')}")
    h, w = ins[0].type.shape[2:]
    size = [node.integer("height", 1), node.integer("width", 1)]
    if node.text("scale_height") is not None:
        size = [int(h * node.number("scale_height", 1.0)), int(w * node.number("scale_width", 1.0))]
    attrs = {"mode": "bilinear", "size": size, "align_corners": node.flag("align_corners", True)}
    return importer.emit("upsample", ins[:1], attrs)
