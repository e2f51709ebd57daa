"""ncnn for resizing (irc/ir/ops/resize.py): upsample is Interp (1 nearest, 2 bilinear) with the IR's scales
when it has them (PyTorch then samples with the scale itself), else the output size; align_corners carried."""

from __future__ import annotations

from ...ir import IrcError, Op
from .emitter import Emitter, emits

RESIZE_TYPES = {"nearest": 1, "bilinear": 2}


@emits("upsample")
def _upsample(emitter: Emitter, op: Op) -> None:
    a = op.attrs
    if a["layout"] != "nchw":
        raise IrcError("ncnn is channel-first: run the nhwc-to-nchw pass before emitting ncnn")
    params = {0: RESIZE_TYPES[a["mode"]], 6: int(a["align_corners"])}
    if a.get("scales") is not None:
        params[1], params[2] = (float(s) for s in a["scales"])
    else:
        params[3], params[4] = emitter.shape(op.results[0])[-2:]
    top = emitter.out(op)
    emitter.layer("Interp", top, [emitter.blob(op.operands[0])], [top], params)
