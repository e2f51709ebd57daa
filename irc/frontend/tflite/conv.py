"""CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, AVERAGE_POOL_2D and MAX_POOL_2D as channel-last IR ops.

Filters are reordered into the IR's nhwc weight layout under the tensor's key: CONV_2D's OHWI into HWIO
(grouped when the filter holds fewer input channels than the input), DEPTHWISE_CONV_2D's [1, KH, KW, C*M]
into [KH, KW, 1, C*M] with groups = C, TRANSPOSE_CONV's OHWI into HWOI. SAME padding becomes TensorFlow's
explicit padding (the extra pixel at the end) and leaves padding out of an average's divisor.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ...ir import Value
from ...ir.layout import permutation
from ..core import Unsupported
from .importer import imports

if TYPE_CHECKING:
    from .importer import TfliteImporter


def same_padding(size: int | None, kernel: int, stride: int, dilation: int = 1) -> list[int]:
    """TensorFlow's SAME padding of one spatial dim: [before, after], the extra pixel after."""
    span = (kernel - 1) * dilation + 1
    if size is None:
        if stride != 1:
            raise Unsupported("SAME padding with a stride needs a static spatial size")
        total = span - 1
    else:
        total = max((math.ceil(size / stride) - 1) * stride + span - size, 0)
    return [total // 2, total - total // 2]


def padding(importer: TfliteImporter, x: Value, kernel: list, stride: list, dilation: list) -> list[list[int]]:
    if importer.options.padding == importer.schema.Padding.VALID:
        return [[0, 0], [0, 0]]
    _, h, w, _ = x.type.shape
    return [same_padding(h, kernel[0], stride[0], dilation[0]), same_padding(w, kernel[1], stride[1], dilation[1])]


def _conv(importer: TfliteImporter, weight: Value, groups: int) -> Value:
    o = importer.options
    x = importer.input(0)
    kernel = [weight.type.shape[0], weight.type.shape[1]]
    stride, dilation = [o.strideH, o.strideW], [o.dilationHFactor, o.dilationWFactor]
    attrs = {"stride": stride, "dilation": dilation, "groups": groups, "layout": "nhwc",
             "padding": padding(importer, x, kernel, stride, dilation)}
    operands = [x, weight] + ([importer.input(2)] if importer.has_input(2) else [])
    return importer.emit("conv2d", operands, attrs, act=o.fusedActivationFunction)


@imports("CONV_2D")
def conv2d(importer: TfliteImporter, operator: object) -> Value:
    weight = importer.input(1, "hwio", lambda a: a.transpose(permutation("OHWI", "HWIO")))
    cin = importer.input(0).type.shape[-1]
    per_group = weight.type.shape[2]
    if cin is None or cin % per_group:
        raise Unsupported(f"the input's {cin} channels are not a multiple of the filter's {per_group}")
    return _conv(importer, weight, cin // per_group)


@imports("DEPTHWISE_CONV_2D")
def depthwise_conv2d(importer: TfliteImporter, operator: object) -> Value:
    weight = importer.input(1, "hwio", lambda a: a.transpose(permutation("IHWO", "HWIO")))
    return _conv(importer, weight, importer.input(0).type.shape[-1])


@imports("TRANSPOSE_CONV")
def transpose_conv(importer: TfliteImporter, operator: object) -> Value:
    """Inputs: output shape, filter OHWI, input, optional bias."""
    o = importer.options
    out_shape = importer.ints(0, "output shape")
    weight = importer.input(1, "hwoi", lambda a: a.transpose(permutation("OHWI", "HWOI")))
    x = importer.input(2)
    stride = [o.strideH, o.strideW]
    pads, extra = [], []
    for i in range(2):
        size, k, out = x.type.shape[1 + i], weight.type.shape[i], out_shape[1 + i]
        if size is None:
            raise Unsupported("TRANSPOSE_CONV needs a static spatial size")
        full = (size - 1) * stride[i] + k
        total = full - out
        if o.padding == importer.schema.Padding.VALID and total > 0:
            raise Unsupported("a VALID TRANSPOSE_CONV smaller than its full size")
        pads.append([max(total, 0) // 2, max(total, 0) - max(total, 0) // 2])
        extra.append(max(-total, 0))
    attrs = {"stride": stride, "dilation": [1, 1], "groups": 1, "layout": "nhwc", "padding": pads,
             "output_padding": extra}
    operands = [x, weight] + ([importer.input(3)] if importer.has_input(3) else [])
    return importer.emit("conv_transpose2d", operands, attrs, act=getattr(o, "fusedActivationFunction", 0))


def _pool(importer: TfliteImporter, kind: str) -> Value:
    o = importer.options
    x = importer.input(0)
    kernel, stride = [o.filterHeight, o.filterWidth], [o.strideH, o.strideW]
    pads = padding(importer, x, kernel, stride, [1, 1])
    attrs = {"kernel_size": kernel, "stride": stride, "padding": pads, "layout": "nhwc"}
    if kind == "avg_pool2d" and pads != [[0, 0], [0, 0]]:
        attrs["count_include_pad"] = False
    return importer.emit(kind, [x], attrs, act=o.fusedActivationFunction)


@imports("MAX_POOL_2D")
def max_pool2d(importer: TfliteImporter, operator: object) -> Value:
    return _pool(importer, "max_pool2d")


@imports("AVERAGE_POOL_2D")
def avg_pool2d(importer: TfliteImporter, operator: object) -> Value:
    return _pool(importer, "avg_pool2d")
