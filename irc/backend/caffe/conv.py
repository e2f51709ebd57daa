"""Convolutions and pooling: Convolution, Deconvolution, Pooling (an adaptive pool of a 1x1 input: a Deconvolution).

Caffe pads symmetrically: an op with different padding on the two sides of a dim is refused. Caffe rounds
pooled sizes up; a pool whose IR output is the rounded-down size gets `ceil_mode: false` (OpenCV's
field 13), one whose sizes agree either way gets nothing. AVE pooling divides by the window clipped to the
padded input, which is PyTorch's `count_include_pad`; without it, padding is refused.
"""

from __future__ import annotations

import numpy as np

from ...formats.caffe import caffe_pool_size
from ...ir import Op
from .emitter import CaffeEmitter, Refused, emits


def _symmetric(op: Op) -> list[int]:
    (top, bottom), (left, right) = op.attrs["padding"]
    if top != bottom or left != right:
        raise Refused(f"asymmetric padding {op.attrs['padding']}: Caffe pads both sides alike")
    return [top, left]


def _conv_param(emitter: CaffeEmitter, op: Op, num_output: int, kernel: tuple) -> dict:
    pad = _symmetric(op)
    (sh, sw), (dh, dw) = op.attrs["stride"], op.attrs["dilation"]
    param = {"num_output": num_output, "bias_term": len(op.operands) > 2, "kernel_h": kernel[0],
             "kernel_w": kernel[1], "stride_h": sh, "stride_w": sw, "pad_h": pad[0], "pad_w": pad[1],
             "group": op.attrs["groups"]}
    if (dh, dw) != (1, 1):
        param["dilation"] = [dh, dw] if dh != dw else [dh]
    return param


def _blobs(emitter: CaffeEmitter, op: Op) -> list:
    return [emitter.array(v) for v in op.operands[1:]]


@emits("conv2d")
def conv2d(emitter: CaffeEmitter, op: Op, ins: list, outs: list) -> None:
    weight = op.operands[1].type.shape
    param = _conv_param(emitter, op, weight[0], weight[2:])
    emitter.layer("Convolution", outs[0], ins[:1], outs, _blobs(emitter, op), convolution_param=param)


@emits("conv_transpose2d")
def conv_transpose2d(emitter: CaffeEmitter, op: Op, ins: list, outs: list) -> None:
    if any(op.attrs["output_padding"]):
        raise Refused(f"output_padding {op.attrs['output_padding']}: Caffe's Deconvolution has none")
    weight = op.operands[1].type.shape
    param = _conv_param(emitter, op, weight[1] * op.attrs["groups"], weight[2:])
    emitter.layer("Deconvolution", outs[0], ins[:1], outs, _blobs(emitter, op), convolution_param=param)


def _rounding(op: Op, kernel: list, stride: list, pad: list) -> dict:
    """{} when Caffe's rounded-up sizes are the op's, {"ceil_mode": False} when the rounded-down ones are."""
    sizes, want = op.operands[0].type.shape[2:], op.results[0].type.shape[2:]
    dims = list(zip(sizes, kernel, stride, pad, strict=True))
    if [caffe_pool_size(*d, True) for d in dims] == list(want):
        return {}
    if [caffe_pool_size(*d, False) for d in dims] == list(want):
        return {"ceil_mode": False}
    raise Refused(f"output size {list(want)} is neither Caffe's rounded-up nor its rounded-down pooled size")


def _pool(emitter: CaffeEmitter, op: Op, ins: list, outs: list, method: str) -> None:
    pad = _symmetric(op)
    kernel, stride = op.attrs["kernel_size"], op.attrs["stride"]
    param = {"pool": method, "kernel_h": kernel[0], "kernel_w": kernel[1], "stride_h": stride[0],
             "stride_w": stride[1], "pad_h": pad[0], "pad_w": pad[1], **_rounding(op, kernel, stride, pad)}
    emitter.layer("Pooling", outs[0], ins, outs, pooling_param=param)


@emits("max_pool2d")
def max_pool2d(emitter: CaffeEmitter, op: Op, ins: list, outs: list) -> None:
    if op.attrs["dilation"] != [1, 1]:
        raise Refused(f"dilation {op.attrs['dilation']}: Caffe pools have none")
    _pool(emitter, op, ins, outs, "MAX")


@emits("avg_pool2d")
def avg_pool2d(emitter: CaffeEmitter, op: Op, ins: list, outs: list) -> None:
    if not op.attrs["count_include_pad"] and any(p for pair in op.attrs["padding"] for p in pair):
        raise Refused("count_include_pad = false with padding: Caffe's AVE counts the padding")
    _pool(emitter, op, ins, outs, "AVE")


def _adaptive(emitter: CaffeEmitter, op: Op, ins: list, outs: list, method: str) -> None:
    """Global pooling (1x1 output), a uniform window (the input a multiple of the output), or tiling (1x1 input)."""
    (h, w), (oh, ow) = op.operands[0].type.shape[2:], op.attrs["output_size"]
    if (oh, ow) == (1, 1):
        emitter.layer("Pooling", outs[0], ins, outs, pooling_param={"pool": method, "global_pooling": True})
    elif (h, w) == (1, 1):  # every output is the one input: a per-channel Deconvolution with a kernel of ones
        channels = op.operands[0].type.shape[1]
        param = {"num_output": channels, "bias_term": False, "kernel_h": oh, "kernel_w": ow, "group": channels}
        emitter.layer("Deconvolution", outs[0], ins, outs, [np.ones((channels, 1, oh, ow), np.float32)],
                      convolution_param=param)
    elif h % oh == 0 and w % ow == 0:
        kernel = {"kernel_h": h // oh, "kernel_w": w // ow, "stride_h": h // oh, "stride_w": w // ow}
        emitter.layer("Pooling", outs[0], ins, outs, pooling_param={"pool": method, **kernel})
    else:
        raise Refused(f"adaptive pooling of {h}x{w} to {oh}x{ow}: windows of different sizes")


@emits("adaptive_avg_pool2d")
def adaptive_avg_pool2d(emitter: CaffeEmitter, op: Op, ins: list, outs: list) -> None:
    _adaptive(emitter, op, ins, outs, "AVE")


@emits("adaptive_max_pool2d")
def adaptive_max_pool2d(emitter: CaffeEmitter, op: Op, ins: list, outs: list) -> None:
    _adaptive(emitter, op, ins, outs, "MAX")
