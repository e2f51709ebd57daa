"""Keras for nn.upsample (irc/ir/ops/resize.py): UpSampling2D when the output is a whole multiple of the input
(nearest, or bilinear with align_corners=false: half-pixel centres, as PyTorch); other sizes are refused."""

from __future__ import annotations

from ...ir import Op
from .conv import channels_last
from .emitter import KerasEmitter, NotEmittable, emits, lit


@emits("upsample")
def upsample(emitter: KerasEmitter, op: Op) -> None:
    if op.operands[0].type.rank != 4:
        raise NotEmittable(f"a {op.operands[0].type.rank - 2}-D resize (Keras' UpSampling2D is 2-D)")
    channels_last(op)
    attrs = op.attrs
    if attrs["align_corners"]:
        raise NotEmittable("align_corners=true (Keras resizes with half-pixel centres)")
    _, h, w, _ = op.operands[0].type.shape
    _, oh, ow, _ = op.results[0].type.shape
    if None in (h, w, oh, ow):
        raise NotEmittable("upsampling needs static spatial sizes")
    x = emitter.tensor(op.operands[0])
    if oh % h == 0 and ow % w == 0:
        emitter.layer(op, "UpSampling2D", [f"size={lit([oh // h, ow // w])}", f"interpolation={attrs['mode']!r}"], x)
        return
    raise NotEmittable(f"resizing {[h, w]} to {[oh, ow]}: not a whole multiple (Keras' resize places samples "
                       "unlike PyTorch there)")
