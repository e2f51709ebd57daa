"""Convolutions and pooling: Convolution, Deconvolution, Pooling, contrib AdaptiveAvgPooling2D.

MXNet pads both sides of a dim alike: a convolution or pool with more padding on one side gets an explicit
Pad node in front (zeros, or the lowest float32 before a max pool); a transposed convolution cannot crop
unevenly and is refused. A pool's output size picks `pooling_convention`: "valid" rounds down, "full" rounds
up; a size that is neither is refused. MXNet's average pool with `count_include_pad` divides by the window
clipped to the padded input, as PyTorch does.
"""

from __future__ import annotations

from ...formats.mxnet import pooled_size
from ...ir import Op
from .emitter import Entry, MxnetEmitter, Refused, emits

LOWEST = -3.4028234663852886e38  # float32's lowest: the padding of a max pool


def _padding(op: Op) -> tuple[list[int], list[int] | None]:
    """(symmetric pad for the node, explicit [top, bottom, left, right] for a Pad node in front or None)."""
    (top, bottom), (left, right) = op.attrs["padding"]
    if top == bottom and left == right:
        return [top, left], None
    return [0, 0], [top, bottom, left, right]


def _pad_node(emitter: MxnetEmitter, x: Entry, out: str, pads: list[int] | None, value: float = 0.0) -> Entry:
    if pads is None:
        return x
    return emitter.node("Pad", emitter.tmp(out, "pad"), [x], {"mode": "constant", "pad_width": (0, 0, 0, 0, *pads),
                                                             "constant_value": value})


def _bias(emitter: MxnetEmitter, op: Op, out: str) -> list[Entry]:
    return [emitter.weight(op.operands[2], f"{out}_bias")] if len(op.operands) > 2 else []


@emits("conv2d")
def conv2d(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    pad, explicit = _padding(op)
    x = _pad_node(emitter, emitter.operand(op, 0, ins), outs[0], explicit)
    weight = op.operands[1].type.shape
    attrs = {"kernel": tuple(weight[2:]), "stride": tuple(op.attrs["stride"]), "dilate": tuple(op.attrs["dilation"]),
             "pad": tuple(pad), "num_filter": weight[0], "num_group": op.attrs["groups"],
             "no_bias": len(op.operands) < 3}
    inputs = [x, emitter.weight(op.operands[1], f"{outs[0]}_weight"), *_bias(emitter, op, outs[0])]
    return emitter.node("Convolution", outs[0], inputs, attrs)


@emits("conv_transpose2d")
def conv_transpose2d(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    pad, explicit = _padding(op)
    if explicit is not None:
        raise Refused(f"asymmetric padding {op.attrs['padding']}: MXNet's Deconvolution crops both sides alike")
    weight = op.operands[1].type.shape
    attrs = {"kernel": tuple(weight[2:]), "stride": tuple(op.attrs["stride"]), "dilate": tuple(op.attrs["dilation"]),
             "pad": tuple(pad), "adj": tuple(op.attrs["output_padding"]), "num_filter": weight[1] * op.attrs["groups"],
             "num_group": op.attrs["groups"], "no_bias": len(op.operands) < 3}
    inputs = [emitter.operand(op, 0, ins), emitter.weight(op.operands[1], f"{outs[0]}_weight"),
              *_bias(emitter, op, outs[0])]
    return emitter.node("Deconvolution", outs[0], inputs, attrs)


def _convention(sizes: list, want: list, kernel: list, stride: list, pad: list) -> str:
    dims = list(zip(sizes, kernel, stride, pad, strict=True))
    for name, full in (("valid", False), ("full", True)):
        if [pooled_size(*d, full) for d in dims] == want:
            return name
    raise Refused(f"output size {want} is neither MXNet's rounded-down nor its rounded-up pooled size")


def _pool(emitter: MxnetEmitter, op: Op, ins: list, out: str, pool_type: str, pad_value: float) -> Entry:
    pad, explicit = _padding(op)
    x = _pad_node(emitter, emitter.operand(op, 0, ins), out, explicit, pad_value)
    kernel, stride = op.attrs["kernel_size"], op.attrs["stride"]
    sizes = list(op.operands[0].type.shape[2:])
    if explicit is not None:  # the sizes are those of the padded input
        sizes = [sizes[0] + explicit[0] + explicit[1], sizes[1] + explicit[2] + explicit[3]]
    attrs = {"kernel": tuple(kernel), "stride": tuple(stride), "pad": tuple(pad), "pool_type": pool_type,
             "pooling_convention": _convention(sizes, list(op.results[0].type.shape[2:]), kernel, stride, pad)}
    if pool_type == "avg":
        attrs["count_include_pad"] = op.attrs["count_include_pad"]
    return emitter.node("Pooling", out, [x], attrs)


@emits("max_pool2d")
def max_pool2d(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    if op.attrs["dilation"] != [1, 1]:
        raise Refused(f"dilation {op.attrs['dilation']}: MXNet pools have none")
    return _pool(emitter, op, ins, outs[0], "max", LOWEST)


@emits("avg_pool2d")
def avg_pool2d(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    if _padding(op)[1] is not None and not op.attrs["count_include_pad"]:
        raise Refused("asymmetric padding with count_include_pad = false: an explicit Pad would be counted")
    return _pool(emitter, op, ins, outs[0], "avg", 0.0)


def _adaptive(emitter: MxnetEmitter, op: Op, ins: list, out: str, pool_type: str) -> Entry:
    """Global pooling (1x1 output), a uniform window (the input a multiple of the output), else contrib's
    AdaptiveAvgPooling2D (average only)."""
    (h, w), (oh, ow) = op.operands[0].type.shape[2:], op.attrs["output_size"]
    x = emitter.operand(op, 0, ins)
    if (oh, ow) == (1, 1):
        return emitter.node("Pooling", out, [x], {"kernel": (1, 1), "global_pool": True, "pool_type": pool_type})
    if h % oh == 0 and w % ow == 0:
        window = (h // oh, w // ow)
        return emitter.node("Pooling", out, [x], {"kernel": window, "stride": window, "pool_type": pool_type})
    if pool_type != "avg":
        raise Refused(f"adaptive max pooling of {h}x{w} to {oh}x{ow}: windows of different sizes")
    return emitter.node("_contrib_AdaptiveAvgPooling2D", out, [x], {"output_size": (oh, ow)})


@emits("adaptive_avg_pool2d")
def adaptive_avg_pool2d(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    return _adaptive(emitter, op, ins, outs[0], "avg")


@emits("adaptive_max_pool2d")
def adaptive_max_pool2d(emitter: MxnetEmitter, op: Op, ins: list, outs: list) -> Entry:
    return _adaptive(emitter, op, ins, outs[0], "max")
