"""ONNX for resizing (irc/ir/ops/resize.py).

upsample is Resize with `scales` when the IR has scales (torch samples with the scale itself), else `sizes`;
nearest is coordinate mode "asymmetric" + nearest_mode "floor" (PyTorch's "nearest"), bilinear is
"align_corners" or "half_pixel" (PyTorch samples (i + 0.5) / scale - 0.5 even for an output of length 1,
which "pytorch_half_pixel" maps to 0 instead); 1-D and 3-D upsampling are the same Resize over their spatial
axes. grid_sample is GridSample (opset 16; its "bilinear" is called "linear" from opset 20).
"""

from __future__ import annotations

import numpy as np

from ...ir import IrcError, Op
from .emitter import Emitter, emits, spatial


def _modes(attrs: dict) -> dict:
    if attrs["mode"] == "nearest":
        return {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    return {"mode": "linear",
            "coordinate_transformation_mode": "align_corners" if attrs["align_corners"] else "half_pixel"}


@emits("upsample")
@spatial
def _upsample(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    a = op.attrs
    out = outs[0]
    kw = _modes(a)
    if a.get("scales") is not None:
        scales = emitter.init(f"{out}__scales", np.asarray([1.0, 1.0] + list(a["scales"]), dtype=np.float32), "f32")
        emitter.node("Resize", [ins[0], "", scales], out, **kw)
    elif emitter.opset >= 18:
        sizes = emitter.ints(out, "sizes", a["size"])
        emitter.node("Resize", [ins[0], "", "", sizes], out, axes=list(range(2, 2 + len(a["size"]))), **kw)
    else:
        shape = emitter.node("Shape", [ins[0]], emitter.tmp(out, "shape"))
        nc = emitter.slice(shape, [0], [0], [2], emitter.tmp(out, "nc"))
        sizes = emitter.node("Concat", [nc, emitter.ints(out, "hw", a["size"])], emitter.tmp(out, "sizes"), axis=0)
        emitter.node("Resize", [ins[0], "", "", sizes], out, **kw)


@emits("grid_sample")
def _grid_sample(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    a = op.attrs
    if emitter.opset < 16:
        raise IrcError(f"nn.grid_sample needs ONNX opset 16 or later (GridSample), not {emitter.opset}")
    mode = "linear" if a["mode"] == "bilinear" and emitter.opset >= 20 else a["mode"]
    emitter.node("GridSample", ins, outs[0], mode=mode, padding_mode=a["padding_mode"],
                 align_corners=int(a["align_corners"]))
