"""CoreML for convolutions and pooling (irc/ir/ops/conv.py).

MIL's `conv`/`conv_transpose` take PyTorch's weight layouts (OIHW, IOHW) and explicit padding
[top, bottom, left, right]; an output_padding is given as conv_transpose's `output_shape`. `max_pool` and
`avg_pool` map attribute for attribute (count_include_pad is `exclude_padding_from_average` negated); a dilated
max pool has no MIL form. Adaptive pooling becomes a reduce over H and W (1x1), a plain pool when the input
divides evenly, else PyTorch's bins one axis at a time (slices, reduces, a concat). nhwc ops run in NCHW
between transposes (`spatial`).
"""

from __future__ import annotations

from ...ir import IrcError, Op
from ...ir.layout import ACTIVATION, activation_layout
from .emitter import Emitter, emits, spatial

HW_AXES = [ACTIVATION["nchw"].index("H"), ACTIVATION["nchw"].index("W")]  # where the emitters compute


def _pad(padding: list) -> list:
    (top, bottom), (left, right) = padding
    return [top, bottom, left, right]


@emits("conv2d")
@spatial
def _conv2d(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    a = op.attrs
    kw = {} if ins[2] is None else {"bias": ins[2]}
    return emitter.mb.conv(x=ins[0], weight=ins[1], strides=a["stride"], pad_type="custom", pad=_pad(a["padding"]),
                           dilations=a["dilation"], groups=a["groups"], name=names[0], **kw)


@emits("conv_transpose2d")
@spatial
def _conv_transpose2d(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    a = op.attrs
    kw = {} if ins[2] is None else {"bias": ins[2]}
    if any(a["output_padding"]):
        if a["layout"] != "nchw":
            raise IrcError("an nhwc conv_transpose2d with output_padding has no CoreML form here")
        kw["output_shape"] = list(op.results[0].type.shape)
    return emitter.mb.conv_transpose(x=ins[0], weight=ins[1], strides=a["stride"], pad_type="custom",
                                     pad=_pad(a["padding"]), dilations=a["dilation"], groups=a["groups"],
                                     name=names[0], **kw)


@emits("max_pool2d")
@spatial
def _max_pool2d(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    a = op.attrs
    if any(d != 1 for d in a["dilation"]):
        raise IrcError(f"MIL's max_pool has no dilation (dilation = {a['dilation']})")
    return emitter.mb.max_pool(x=ins[0], kernel_sizes=a["kernel_size"], strides=a["stride"], pad_type="custom",
                               pad=_pad(a["padding"]), ceil_mode=a["ceil_mode"], name=names[0])


@emits("avg_pool2d")
@spatial
def _avg_pool2d(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    a = op.attrs
    return emitter.mb.avg_pool(x=ins[0], kernel_sizes=a["kernel_size"], strides=a["stride"], pad_type="custom",
                               pad=_pad(a["padding"]), ceil_mode=a["ceil_mode"],
                               exclude_padding_from_average=not a["count_include_pad"], name=names[0])


def _adaptive(reduce: str, pool: str):
    """adaptive_{avg,max}_pool2d: a reduce over H and W (1x1), a plain pool when the input divides evenly, else
    PyTorch's bins one axis at a time."""

    @spatial
    def emit(emitter: Emitter, op: Op, ins: list, names: list) -> object:
        oh, ow = op.attrs["output_size"]
        x = op.operands[0].type
        letters = activation_layout(op.attrs["layout"], x.rank)
        h, w = x.shape[letters.index("H")], x.shape[letters.index("W")]
        if (oh, ow) == (1, 1):
            return getattr(emitter.mb, reduce)(x=ins[0], axes=HW_AXES, keep_dims=True, name=names[0])
        if h % oh == 0 and w % ow == 0:
            k = [h // oh, w // ow]
            return getattr(emitter.mb, pool)(x=ins[0], kernel_sizes=k, strides=k, pad_type="valid", name=names[0])
        return _adaptive_bins(emitter, reduce, ins[0], names[0], (h, w), (oh, ow))

    return emit


def _adaptive_bins(emitter: Emitter, reduce: str, x: object, name: str, size: tuple, output_size: tuple) -> object:
    """PyTorch's bins [floor(i*in/out), ceil((i+1)*in/out)) along H, then W: slices reduced and concatenated."""
    mb = emitter.mb
    for axis, n, o in ((HW_AXES[0], size[0], output_size[0]), (HW_AXES[1], size[1], output_size[1])):
        if n == o:
            continue
        parts = []
        for i in range(o):
            begin, end = [0] * 4, list(x.shape)
            begin[axis], end[axis] = (i * n) // o, -(-((i + 1) * n) // o)
            piece = mb.slice_by_index(x=x, begin=begin, end=end, name=emitter.tmp(name, f"bin{axis}_{i}"))
            parts.append(getattr(mb, reduce)(x=piece, axes=[axis], keep_dims=True,
                                             name=emitter.tmp(name, f"red{axis}_{i}")))
        last = axis == HW_AXES[1] or size[1] == output_size[1]
        x = mb.concat(values=parts, axis=axis, name=name if last else emitter.tmp(name, "rows"))
    return x


emits("adaptive_avg_pool2d")(_adaptive("reduce_mean", "avg_pool"))
emits("adaptive_max_pool2d")(_adaptive("reduce_max", "max_pool"))
