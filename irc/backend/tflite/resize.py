"""TFLite for resizing (irc/ir/ops/resize.py): upsample is RESIZE_NEAREST_NEIGHBOR or RESIZE_BILINEAR to
the result's size. PyTorch's nearest (floor(dst * in / out)) is TFLite's without half-pixel centers;
bilinear without align_corners is TFLite's half-pixel centers."""

from __future__ import annotations

import numpy as np

from ...ir import IrcError, Op
from .emitter import Emitter, emits


@emits("upsample")
def _upsample(emitter: Emitter, op: Op) -> None:
    if op.results[0].type.rank != 4:
        raise IrcError(f"a {op.results[0].type.rank - 2}-D resize (TFLite's resize ops are 2-D)")
    _, h, w, _ = op.results[0].type.shape
    if h is None or w is None:
        raise IrcError("resizing to a dynamic size is not supported")
    size = emitter.const(op, "size", np.asarray([h, w], np.int32))
    align = bool(op.attrs["align_corners"])
    if op.attrs["mode"] == "nearest":
        emitter.operator("RESIZE_NEAREST_NEIGHBOR", [emitter.input(op, 0), size], [emitter.output(op)],
                         "ResizeNearestNeighborOptions", alignCorners=False, halfPixelCenters=False)
    else:
        emitter.operator("RESIZE_BILINEAR", [emitter.input(op, 0), size], [emitter.output(op)],
                         "ResizeBilinearOptions", alignCorners=align, halfPixelCenters=not align)
