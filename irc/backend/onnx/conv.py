"""ONNX for convolutions and pooling (irc/ir/ops/conv.py).

Pooling and convolution map attribute for attribute: ONNX's pads are [begin..., end...], so asymmetric
padding is exact; onnxruntime's ceil_mode and count_include_pad agree with PyTorch's (tested). Adaptive
pooling becomes a Global pool (1x1), a plain pool when the input divides evenly, else a separable
Slice/Reduce/Concat decomposition. nhwc ops run in NCHW between Transposes (`spatial`).
"""

from __future__ import annotations

from ...ir import IrcError, Op
from ...ir.layout import ACTIVATION, activation_layout
from ...ir.ops import OPS
from .emitter import Emitter, emits, spatial

H_AXIS, W_AXIS = ACTIVATION["nchw"].index("H"), ACTIVATION["nchw"].index("W")  # where the emitters compute


def _pads(padding: list) -> list:
    (t, b), (left, r) = padding
    return [t, left, b, r]


def _kernel_shape(op: Op) -> list:
    """The kernel's [height, width], read from the weight in the layout the op's `layout` implies."""
    letters = OPS[op.name].weight_layout[op.attrs["layout"]]
    w = op.operands[1].type.shape
    return [w[letters.index("H")], w[letters.index("W")]]


@emits("conv2d")
@spatial
def _conv2d(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    a = op.attrs
    emitter.node("Conv", ins, outs[0], kernel_shape=_kernel_shape(op), strides=a["stride"], pads=_pads(a["padding"]),
                 dilations=a["dilation"], group=a["groups"])


@emits("conv_transpose2d")
@spatial
def _conv_transpose2d(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    a = op.attrs
    emitter.node("ConvTranspose", ins, outs[0], kernel_shape=_kernel_shape(op), strides=a["stride"],
                 pads=_pads(a["padding"]), dilations=a["dilation"], group=a["groups"],
                 output_padding=a["output_padding"] if any(a["output_padding"]) else None)


@emits("max_pool2d")
@spatial
def _max_pool2d(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    a = op.attrs
    emitter.node("MaxPool", ins, outs[0], kernel_shape=a["kernel_size"], strides=a["stride"],
                 pads=_pads(a["padding"]), dilations=a["dilation"] if any(d != 1 for d in a["dilation"]) else None,
                 ceil_mode=1 if a["ceil_mode"] else None)


@emits("avg_pool2d")
@spatial
def _avg_pool2d(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    a = op.attrs
    emitter.node("AveragePool", ins, outs[0], kernel_shape=a["kernel_size"], strides=a["stride"],
                 pads=_pads(a["padding"]), ceil_mode=1 if a["ceil_mode"] else None,
                 count_include_pad=1 if a["count_include_pad"] else 0)


def _adaptive(global_pool: str, pool: str, reduce: str):
    """adaptive_{avg,max}_pool2d: a Global pool, a plain pool, or PyTorch's bins one axis at a time."""

    @spatial
    def emit(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
        oh, ow = op.attrs["output_size"]
        x = op.operands[0].type
        letters = activation_layout(op.attrs["layout"], x.rank)
        h, w = x.shape[letters.index("H")], x.shape[letters.index("W")]
        if (oh, ow) == (1, 1):
            emitter.node(global_pool, ins, outs[0])
        elif h is None or w is None:
            raise IrcError(f"adaptive pooling to {[oh, ow]} needs static spatial dims, got {x}")
        elif h % oh == 0 and w % ow == 0:
            k = [h // oh, w // ow]
            emitter.node(pool, ins, outs[0], kernel_shape=k, strides=k)
        else:
            _adaptive_bins(emitter, reduce, ins[0], outs[0], (h, w), (oh, ow))

    return emit


def _adaptive_bins(emitter: Emitter, reduce: str, x: str, out: str, size: tuple, output_size: tuple) -> None:
    """PyTorch's bins: [floor(i*in/out), ceil((i+1)*in/out)); rectangular bins make it separable."""
    (h, w), (oh, ow) = size, output_size
    cur = x
    for axis, (n, o) in ((H_AXIS, (h, oh)), (W_AXIS, (w, ow))):
        if n == o:
            continue
        target = out if axis == W_AXIS or w == ow else emitter.tmp(out, "rows")
        parts = []
        for i in range(o):
            s, t = (i * n) // o, -(-((i + 1) * n) // o)
            piece = emitter.slice(cur, [axis], [s], [t], emitter.tmp(out, f"bin{axis}_{i}"))
            parts.append(emitter.reduce(reduce, piece, [axis], emitter.tmp(out, f"red{axis}_{i}"), True))
        cur = emitter.node("Concat", parts, target, axis=axis)
    if cur != out:
        emitter.node("Identity", [cur], out)


emits("adaptive_avg_pool2d")(_adaptive("GlobalAveragePool", "AveragePool", "ReduceMean"))
emits("adaptive_max_pool2d")(_adaptive("GlobalMaxPool", "MaxPool", "ReduceMax"))


# ----------------------------------------------------------------------------- 3-D (video)


def _pads_nd(padding: list) -> list:
    """[[begin, end] per spatial dim] → ONNX's [begins..., ends...]."""
    return [b for b, _ in padding] + [e for _, e in padding]


@emits("conv3d")
@spatial
def _conv3d(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    a = op.attrs
    letters = OPS[op.name].weight_layout[a["layout"]]
    w = op.operands[1].type.shape
    emitter.node("Conv", ins, outs[0], kernel_shape=[w[letters.index(d)] for d in "DHW"], strides=a["stride"],
                 pads=_pads_nd(a["padding"]), dilations=a["dilation"], group=a["groups"])


@emits("max_pool3d")
@spatial
def _max_pool3d(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    a = op.attrs
    emitter.node("MaxPool", ins, outs[0], kernel_shape=a["kernel_size"], strides=a["stride"],
                 pads=_pads_nd(a["padding"]), dilations=a["dilation"] if any(d != 1 for d in a["dilation"]) else None,
                 ceil_mode=1 if a["ceil_mode"] else None)


@emits("avg_pool3d")
@spatial
def _avg_pool3d(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    a = op.attrs
    emitter.node("AveragePool", ins, outs[0], kernel_shape=a["kernel_size"], strides=a["stride"],
                 pads=_pads_nd(a["padding"]), ceil_mode=1 if a["ceil_mode"] else None,
                 count_include_pad=1 if a["count_include_pad"] else 0)


@emits("adaptive_avg_pool3d")
@spatial
def _adaptive_avg_pool3d(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    out_size, x = op.attrs["output_size"], op.operands[0].type
    letters = activation_layout(op.attrs["layout"], x.rank)
    sizes = [x.shape[letters.index(d)] for d in "DHW"]
    if out_size == [1, 1, 1]:
        emitter.node("GlobalAveragePool", ins, outs[0])
    elif None not in sizes and all(n % o == 0 for n, o in zip(sizes, out_size, strict=True)):
        k = [n // o for n, o in zip(sizes, out_size, strict=True)]
        emitter.node("AveragePool", ins, outs[0], kernel_shape=k, strides=k)
    else:
        raise IrcError(f"adaptive 3-D pooling of {x} to {out_size}: ONNX needs an output size that divides the "
                       "input's (or 1)")
