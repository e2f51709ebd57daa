"""MIL resizing → IR (irc/ir/ops/resize.py).

upsample_nearest_neighbor is nn.upsample "nearest" with its scale factors (output = floor(input * scale), as
both define it); upsample_bilinear (MIL recomputes the scale from the sizes) is "bilinear" to the output's
size, align_corners as given, which needs half_pixel_centers = not align_corners (PyTorch's two modes);
resize_bilinear's ALIGN_CORNERS / STRICT_ALIGN_CORNERS and UNALIGN_CORNERS sampling modes map the same way.
"""

from __future__ import annotations

from ..core import Unsupported
from .importer import CoremlImporter, imports

SAMPLING_ALIGN = {"STRICT_ALIGN_CORNERS": True, "ALIGN_CORNERS": True, "UNALIGN_CORNERS": False}


def _size(op: object) -> list[int]:
    return [int(d) for d in op.outputs[0].shape[-2:]]


@imports("upsample_nearest_neighbor")
def _upsample_nearest(importer: CoremlImporter, op: object) -> object:
    scales = [float(importer.attr(op, "scale_factor_height", 1)), float(importer.attr(op, "scale_factor_width", 1))]
    return importer.emit("upsample", [importer.value(op.inputs["x"])], {"mode": "nearest", "scales": scales})


@imports("upsample_bilinear")
def _upsample_bilinear(importer: CoremlImporter, op: object) -> object:
    align = bool(importer.attr(op, "align_corners", True))
    if bool(importer.attr(op, "half_pixel_centers", not align)) == align:
        raise Unsupported(f"align_corners={align} with half_pixel_centers={align} (PyTorch has no such mode)")
    return importer.emit("upsample", [importer.value(op.inputs["x"])],
                         {"mode": "bilinear", "size": _size(op), "align_corners": align})


@imports("resize_bilinear")
def _resize_bilinear(importer: CoremlImporter, op: object) -> object:
    mode = importer.attr(op, "sampling_mode", "DEFAULT")
    if mode not in SAMPLING_ALIGN:
        raise Unsupported(f"sampling_mode {mode}")
    return importer.emit("upsample", [importer.value(op.inputs["x"])],
                         {"mode": "bilinear", "size": _size(op), "align_corners": SAMPLING_ALIGN[mode]})
