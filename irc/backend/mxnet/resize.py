"""upsample: nearest by one integer factor for both dims is UpSampling; bilinear is contrib's
BilinearResize2D to the output size (align_corners as the op says)."""

from __future__ import annotations

from ...ir import Op
from .emitter import Entry, MxnetEmitter, Refused, emits


@emits("upsample")
def upsample(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    if op.operands[0].type.rank != 4:
        raise Refused(f"a {op.operands[0].type.rank - 2}-D resize (MXNet's UpSampling is 2-D)")
    (h, w), (oh, ow) = op.operands[0].type.shape[2:], op.results[0].type.shape[2:]
    x = emitter.operand(op, 0, ins)
    if op.attrs["mode"] == "bilinear":
        attrs = {"height": oh, "width": ow, "align_corners": bool(op.attrs["align_corners"])}
        return emitter.node("_contrib_BilinearResize2D", outs[0], [x], attrs)
    scales = op.attrs.get("scales")
    if oh % h or ow % w or oh // h != ow // w or (scales is not None and scales[0] != scales[1]):
        raise Refused(f"nearest {h}x{w} -> {oh}x{ow}: MXNet's UpSampling takes one integer factor")
    return emitter.node("UpSampling", outs[0], [x], {"scale": oh // h, "sample_type": "nearest", "num_args": 1})
