"""CoreML for resizing (irc/ir/ops/resize.py).

upsample is `upsample_nearest_neighbor` or `upsample_bilinear` with scale factors: the IR's `scales`, else
output / input per axis. MIL's bilinear recomputes the scale from the sizes (PyTorch's
recompute_scale_factor=True); align_corners=False is half-pixel sampling clamped at the edge, as PyTorch's.
Integer scales (every seed model) sample the same pixels as PyTorch either way.
"""

from __future__ import annotations

from ...ir import IrcError, Op
from .emitter import Emitter, emits, spatial


def _scales(op: Op) -> list[float]:
    if op.attrs.get("scales") is not None:
        return [float(s) for s in op.attrs["scales"]]
    x = op.operands[0].type.shape
    h, w = (x[2], x[3]) if op.attrs["layout"] == "nchw" else (x[1], x[2])
    return [op.attrs["size"][0] / h, op.attrs["size"][1] / w]


@emits("upsample")
@spatial
def _upsample(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    if op.operands[0].type.rank != 4:
        raise IrcError(f"a {op.operands[0].type.rank - 2}-D resize (MIL's upsample ops are 2-D)")
    sh, sw = _scales(op)
    if op.attrs["mode"] == "nearest":
        return emitter.mb.upsample_nearest_neighbor(x=ins[0], scale_factor_height=sh, scale_factor_width=sw,
                                                    name=names[0])
    align = op.attrs["align_corners"]
    return emitter.mb.upsample_bilinear(x=ins[0], scale_factor_height=sh, scale_factor_width=sw, align_corners=align,
                                        half_pixel_centers=not align, name=names[0])
