"""TFLite for convolutions and pooling (irc/ir/ops/conv.py), channel-last.

conv2d is CONV_2D (filter OHWI), or DEPTHWISE_CONV_2D (filter [1, KH, KW, C*M]) when groups == Cin > 1.
TFLite pads only "SAME" (TensorFlow's, the extra pixel at the end) or "VALID": an op whose padding is
neither gets a PAD in front (PADV2 with the lowest float for max pooling), and average pooling whose
padding is counted in the divisor (count_include_pad) pads with zeros and pools VALID. conv_transpose2d
is TRANSPOSE_CONV to its full size, cropped by a STRIDED_SLICE when the op has padding. Adaptive pooling
to 1x1 is MEAN / REDUCE_MAX over H and W; to a size that divides the input, a plain pool.
"""

from __future__ import annotations

import math

import numpy as np

from ...ir import IrcError, Op
from ...ir.layout import permutation
from ...ir.ops import OPS
from .emitter import Emitter, emits

LOWEST = float(np.finfo(np.float32).min)


def _dim_padding(size: int | None, out: int | None, kernel: int, stride: int, dilation: int,
                 pads: list) -> tuple[bool, bool, list]:
    """(SAME computes it, VALID computes it, the explicit [before, after] a VALID op needs) for one dim."""
    before, after = pads
    span = (kernel - 1) * dilation + 1
    if size is None or out is None:
        if before == after == 0:
            return False, True, [0, 0]
        if stride == 1 and [before, after] == [(span - 1) // 2, span - 1 - (span - 1) // 2]:
            return True, False, [before, after]
        raise IrcError("padding on a dynamic spatial size that is neither TensorFlow's SAME nor VALID")
    total_same = max((out - 1) * stride + span - size, 0)
    same = out == math.ceil(size / stride) and before == total_same // 2
    valid = before == 0 and out == (size - span) // stride + 1
    need = (out - 1) * stride + span - size - before  # below 0: VALID's floor drops the rest anyway
    return same, valid, [before, max(need, 0)]


def padding(op: Op, kernel: list, stride: list, dilation: list) -> tuple[str, list | None]:
    """("SAME" | "VALID", None) when TFLite's padding computes the op, else ("VALID", explicit [[b, a]] * 2)."""
    x, y = op.operands[0].type.shape, op.results[0].type.shape
    dims = [_dim_padding(x[1 + i], y[1 + i], kernel[i], stride[i], dilation[i], op.attrs["padding"][i])
            for i in range(2)]
    if all(d[0] for d in dims):
        return "SAME", None
    if all(d[1] for d in dims):
        return "VALID", None
    return "VALID", [d[2] if not d[1] else [0, 0] for d in dims]


def pad_input(emitter: Emitter, op: Op, pads: list | None, value: float = 0.0) -> int:
    """The op's input, padded in H and W by `pads` (with `value`) when given."""
    x = emitter.input(op, 0)
    if pads is None:
        return x
    shape = list(op.operands[0].type.shape)
    full = [[0, 0], pads[0], pads[1], [0, 0]]
    for i in (1, 2):
        shape[i] = shape[i] + sum(full[i]) if shape[i] is not None else None
    out = emitter.temp(op, "pad", shape, op.operands[0].type.dtype)
    amounts = emitter.const(op, "pads", np.asarray(full, dtype=np.int32))
    if value == 0.0:
        emitter.operator("PAD", [x, amounts], [out], "PadOptions")
    else:
        fill = emitter.const(op, "pad_value", np.asarray(value, dtype=np.float32))
        emitter.operator("PADV2", [x, amounts, fill], [out], "PadV2Options")
    return out


def _kernel(op: Op) -> list:
    letters = OPS[op.name].weight_layout["nhwc"]
    w = op.operands[1].type.shape
    return [w[letters.index("H")], w[letters.index("W")]]


def _bias(emitter: Emitter, op: Op, channels: int) -> int:
    if len(op.operands) > 2:
        return emitter.input(op, 2)
    return emitter.const(op, "bias", np.zeros(channels, np.float32))


@emits("conv2d")
def _conv2d(emitter: Emitter, op: Op) -> None:
    a = op.attrs
    kernel = _kernel(op)
    cin, cout = op.operands[0].type.shape[-1], op.results[0].type.shape[-1]
    mode, pads = padding(op, kernel, a["stride"], a["dilation"])
    x = pad_input(emitter, op, pads)
    stride, dilation = a["stride"], a["dilation"]
    common = {"padding": getattr(emitter.schema.Padding, mode), "strideH": stride[0], "strideW": stride[1],
              "dilationHFactor": dilation[0], "dilationWFactor": dilation[1]}
    depthwise = a["groups"] == cin and cin > 1 and op.operands[1].type.shape[2] == 1
    if depthwise:
        w = emitter.weight(op.operands[1], "1hwo", lambda arr: arr.transpose(permutation("HWIO", "IHWO")))
    else:
        w = emitter.weight(op.operands[1], "ohwi", lambda arr: arr.transpose(permutation("HWIO", "OHWI")))
    b = _bias(emitter, op, cout)
    act, out = emitter.fused(op)
    if depthwise:
        emitter.operator("DEPTHWISE_CONV_2D", [x, w, b], [out], "DepthwiseConv2DOptions",
                         depthMultiplier=cout // cin, fusedActivationFunction=act, **common)
    else:
        emitter.operator("CONV_2D", [x, w, b], [out], "Conv2DOptions", fusedActivationFunction=act, **common)


@emits("conv_transpose2d")
def _conv_transpose2d(emitter: Emitter, op: Op) -> None:
    """TRANSPOSE_CONV (VALID: output (in - 1) * stride + kernel), then the padding cropped off."""
    a = op.attrs
    if a["groups"] != 1 or any(d != 1 for d in a["dilation"]):
        raise IrcError("TFLite's TRANSPOSE_CONV has no groups or dilation")
    n, h, w_, _ = op.operands[0].type.shape
    y = op.results[0].type
    kernel = _kernel(op)
    full = [(h - 1) * a["stride"][0] + kernel[0], (w_ - 1) * a["stride"][1] + kernel[1]]
    crop = [[a["padding"][i][0], y.shape[1 + i]] for i in range(2)]
    if any(c[0] + c[1] > f for c, f in zip(crop, full, strict=True)):
        raise IrcError("output_padding beyond the transposed convolution's full size is not supported")
    cropped = any(c != [0, f] for c, f in zip(crop, full, strict=True))
    weight = emitter.weight(op.operands[1], "ohwi", lambda arr: arr.transpose(permutation("HWOI", "OHWI")))
    shape = _output_shape(emitter, op, [n, *full, y.shape[-1]])
    ins = [shape, weight, emitter.input(op, 0), _bias(emitter, op, y.shape[-1])]
    if not cropped:
        act, out = emitter.fused(op)
        emitter.operator("TRANSPOSE_CONV", ins, [out], "TransposeConvOptions", padding=emitter.schema.Padding.VALID,
                         strideH=a["stride"][0], strideW=a["stride"][1], fusedActivationFunction=act)
        return
    big = emitter.temp(op, "full", [n, *full, y.shape[-1]])
    emitter.operator("TRANSPOSE_CONV", ins, [big], "TransposeConvOptions", padding=emitter.schema.Padding.VALID,
                     strideH=a["stride"][0], strideW=a["stride"][1])
    begin = emitter.const(op, "begin", [0, crop[0][0], crop[1][0], 0])
    end = emitter.const(op, "end", [0, crop[0][0] + crop[0][1], crop[1][0] + crop[1][1], 0])
    strides = emitter.const(op, "strides", [1, 1, 1, 1])
    emitter.operator("STRIDED_SLICE", [big, begin, end, strides], [emitter.output(op)], "StridedSliceOptions",
                     beginMask=0b1001, endMask=0b1001)


def _output_shape(emitter: Emitter, op: Op, dims: list) -> int:
    """TRANSPOSE_CONV's output shape: a constant, or with a dynamic batch the input's batch (SHAPE, a
    STRIDED_SLICE) concatenated with the constant rest, as TensorFlow's converter writes it."""
    if dims[0] is not None:
        return emitter.const(op, "output_shape", np.asarray(dims, np.int32))
    shape = emitter.temp(op, "input_shape", [4], "i32")
    emitter.operator("SHAPE", [emitter.input(op, 0)], [shape], "ShapeOptions", outType=emitter.schema.TensorType.INT32)
    batch = emitter.temp(op, "batch", [1], "i32")
    emitter.operator("STRIDED_SLICE", [shape, emitter.const(op, "b0", [0]), emitter.const(op, "b1", [1]),
                                       emitter.const(op, "b_step", [1])], [batch], "StridedSliceOptions")
    out = emitter.temp(op, "output_shape", [4], "i32")
    emitter.operator("CONCATENATION", [batch, emitter.const(op, "hwc", np.asarray(dims[1:], np.int32))], [out],
                     "ConcatenationOptions", axis=0)
    return out


def _pool(emitter: Emitter, op: Op, builtin: str, kernel: list, stride: list, pads: list | None, mode: str,
          value: float) -> None:
    x = pad_input(emitter, op, pads, value)
    act, out = emitter.fused(op)
    emitter.operator(builtin, [x], [out], "Pool2DOptions", padding=getattr(emitter.schema.Padding, mode),
                     strideH=stride[0], strideW=stride[1], filterHeight=kernel[0], filterWidth=kernel[1],
                     fusedActivationFunction=act)


@emits("max_pool2d")
def _max_pool2d(emitter: Emitter, op: Op) -> None:
    a = op.attrs
    if any(d != 1 for d in a["dilation"]):
        raise IrcError("TFLite's MAX_POOL_2D has no dilation")
    stride = op.attrs["stride"]
    mode, pads = padding(op, a["kernel_size"], stride, [1, 1])
    _pool(emitter, op, "MAX_POOL_2D", a["kernel_size"], stride, pads, mode, LOWEST)


@emits("avg_pool2d")
def _avg_pool2d(emitter: Emitter, op: Op) -> None:
    """SAME leaves the padding out of the divisor; counted padding is zeros padded in front of a VALID pool."""
    a = op.attrs
    stride = op.attrs["stride"]
    mode, pads = padding(op, a["kernel_size"], stride, [1, 1])
    padded = any(p != 0 for pair in a["padding"] for p in pair)
    if padded and a["count_include_pad"] and mode == "SAME":
        pads = [list(p) for p in a["padding"]]
        mode, pads = "VALID", padding_for_valid(op, pads)
    elif padded and not a["count_include_pad"] and mode != "SAME":
        raise IrcError("average pooling that leaves padding out of the divisor needs TensorFlow's SAME padding")
    _pool(emitter, op, "AVERAGE_POOL_2D", a["kernel_size"], stride, pads, mode, 0.0)


def padding_for_valid(op: Op, pads: list) -> list:
    """The explicit pads of an op computed VALID: its own before, and whatever after its output needs."""
    x, y = op.operands[0].type.shape, op.results[0].type.shape
    a = op.attrs
    out = []
    for i in range(2):
        need = (y[1 + i] - 1) * op.attrs["stride"][i] + a["kernel_size"][i] - x[1 + i] - pads[i][0]
        out.append([pads[i][0], max(need, 0)])
    return out


def _adaptive(reduce: str, pool: str):
    def emit(emitter: Emitter, op: Op) -> None:
        oh, ow = op.attrs["output_size"]
        _, h, w, _ = op.operands[0].type.shape
        if (oh, ow) == (1, 1):
            axes = emitter.const(op, "axes", [1, 2])
            emitter.operator(reduce, [emitter.input(op, 0), axes], [emitter.output(op)], "ReducerOptions",
                             keepDims=True)
        elif h is not None and w is not None and h % oh == 0 and w % ow == 0:
            k = [h // oh, w // ow]
            _pool(emitter, op, pool, k, k, None, "VALID", 0.0)
        elif h is not None and w is not None and oh % h == 0 and ow % w == 0:  # each bin is one input pixel
            size = emitter.const(op, "size", np.asarray([oh, ow], np.int32))
            emitter.operator("RESIZE_NEAREST_NEIGHBOR", [emitter.input(op, 0), size], [emitter.output(op)],
                             "ResizeNearestNeighborOptions")
        else:
            raise IrcError(f"adaptive pooling from {h}x{w} to {oh}x{ow} (bins of unequal size) is not supported")

    return emit


emits("adaptive_avg_pool2d")(_adaptive("MEAN", "AVERAGE_POOL_2D"))
emits("adaptive_max_pool2d")(_adaptive("REDUCE_MAX", "MAX_POOL_2D"))
