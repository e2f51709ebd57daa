"""Convolutions and pooling: Conv2D, DepthwiseConv2D, SeparableConv2D, Conv2DTranspose, Max/Average
pooling, global pooling, ZeroPadding2D and Cropping2D, all channel-last (`layout = "nhwc"`).

TensorFlow's "same" padding is asymmetric: the extra pixel goes at the end (bottom/right).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ...ir import Value
from ..core import Unsupported
from .elementwise import apply_activation
from .tables import imports

if TYPE_CHECKING:
    from .importer import KerasImporter


def _pair(value: object) -> list[int]:
    return [int(v) for v in value] if isinstance(value, (list, tuple)) else [int(value)] * 2


def _channels_last(importer: KerasImporter) -> None:
    if importer.config("data_format", "channels_last") != "channels_last":
        raise Unsupported("only data_format='channels_last' is supported")


def same_padding(size: int | None, kernel: int, stride: int, dilation: int = 1) -> list[int]:
    """TensorFlow's "same" padding of one spatial dim: [before, after], the extra pixel after."""
    span = (kernel - 1) * dilation + 1
    if size is None:
        if stride != 1:
            raise Unsupported("'same' padding with a stride needs a static spatial size")
        total = span - 1
    else:
        total = max((math.ceil(size / stride) - 1) * stride + span - size, 0)
    return [total // 2, total - total // 2]


def _padding(importer: KerasImporter, x: Value, kernel: list[int], stride: list[int],
             dilation: list[int]) -> list[list[int]]:
    mode = importer.config("padding", "valid")
    if mode == "valid":
        return [[0, 0], [0, 0]]
    if mode != "same":
        raise Unsupported(f"padding '{mode}' is not supported (only 'valid' and 'same')")
    _, h, w, _ = x.type.shape
    return [same_padding(h, kernel[0], stride[0], dilation[0]), same_padding(w, kernel[1], stride[1], dilation[1])]


def _conv(importer: KerasImporter, x: Value, weight: Value, bias: Value | None, kernel: list[int],
          groups: int) -> Value:
    stride, dilation = _pair(importer.config("strides", 1)), _pair(importer.config("dilation_rate", 1))
    attrs = {"stride": stride, "dilation": dilation, "groups": groups, "layout": "nhwc",
             "padding": _padding(importer, x, kernel, stride, dilation)}
    return importer.emit("conv2d", _operands(x, weight, bias), attrs)


def _operands(x: Value, weight: Value, bias: Value | None) -> list[Value]:
    return [x, weight] if bias is None else [x, weight, bias]


def _bias(importer: KerasImporter, layer: object) -> Value | None:
    return importer.weight(layer.bias) if getattr(layer, "use_bias", False) and layer.bias is not None else None


@imports("Conv2D")
def conv2d(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    _channels_last(importer)
    kernel = importer.weight(layer.kernel)
    y = _conv(importer, ins[0], kernel, _bias(importer, layer), _pair(importer.config("kernel_size")),
              int(importer.config("groups", 1)))
    return apply_activation(importer, y, importer.config("activation"))


def _depthwise_weight(importer: KerasImporter, variable: object) -> Value:
    """A depthwise kernel [KH, KW, C, M] as the grouped conv weight [KH, KW, 1, C*M] (same key)."""
    return importer.weight(variable, lambda a: a.reshape(a.shape[0], a.shape[1], 1, -1), how="depthwise")


@imports("DepthwiseConv2D")
def depthwise_conv2d(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    _channels_last(importer)
    x = ins[0]
    y = _conv(importer, x, _depthwise_weight(importer, layer.kernel), _bias(importer, layer),
              _pair(importer.config("kernel_size")), x.type.shape[-1])
    return apply_activation(importer, y, importer.config("activation"))


@imports("SeparableConv2D")
def separable_conv2d(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    """A depthwise conv (strides, padding, dilation) and a 1x1 pointwise conv with the bias."""
    _channels_last(importer)
    x = ins[0]
    y = _conv(importer, x, _depthwise_weight(importer, layer.depthwise_kernel), None,
              _pair(importer.config("kernel_size")), x.type.shape[-1])
    attrs = {"stride": [1, 1], "dilation": [1, 1], "groups": 1, "layout": "nhwc", "padding": [[0, 0], [0, 0]]}
    y = importer.emit("conv2d", _operands(y, importer.weight(layer.pointwise_kernel), _bias(importer, layer)), attrs)
    return apply_activation(importer, y, importer.config("activation"))


def _transpose_padding(mode: str, kernel: int, stride: int, dilation: int, output_padding: int | None) -> tuple:
    """(crop before, crop after, output_padding) of one dim of a Keras transposed conv, TensorFlow's output
    size: `input * stride` for 'same', `(input - 1) * stride + max(kernel, stride)` for 'valid'."""
    span = (kernel - 1) * dilation + 1
    if mode == "valid":
        return 0, 0, max(stride - span, 0) if output_padding is None else output_padding
    if output_padding is not None:  # Keras' torch backend places it unlike TensorFlow (see its backend_utils)
        raise Unsupported("Conv2DTranspose with padding='same' and an explicit output_padding is not supported")
    total = span - stride
    if total < 0:
        return 0, 0, -total
    return total // 2, total - total // 2, 0


@imports("Conv2DTranspose")
def conv_transpose2d(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    _channels_last(importer)
    kernel = _pair(importer.config("kernel_size"))
    stride, dilation = _pair(importer.config("strides", 1)), _pair(importer.config("dilation_rate", 1))
    out_pad = importer.config("output_padding")
    out_pad = _pair(out_pad) if out_pad is not None else [None, None]
    mode = importer.config("padding", "valid")
    dims = [_transpose_padding(mode, kernel[i], stride[i], dilation[i], out_pad[i]) for i in range(2)]
    attrs = {"stride": stride, "dilation": dilation, "groups": 1, "layout": "nhwc",
             "padding": [[d[0], d[1]] for d in dims], "output_padding": [d[2] for d in dims]}
    y = importer.emit("conv_transpose2d", _operands(ins[0], importer.weight(layer.kernel), _bias(importer, layer)),
                      attrs)
    return apply_activation(importer, y, importer.config("activation"))


def _pool(importer: KerasImporter, ins: list[Value], kind: str, extra: dict) -> Value:
    _channels_last(importer)
    kernel = _pair(importer.config("pool_size"))
    strides = importer.config("strides")
    stride = _pair(strides) if strides is not None else kernel
    padding = _padding(importer, ins[0], kernel, stride, [1, 1])
    attrs = {"kernel_size": kernel, "stride": stride, "padding": padding, "layout": "nhwc"}
    if padding != [[0, 0], [0, 0]]:
        attrs.update(extra)
    return importer.emit(kind, [ins[0]], attrs)


@imports("MaxPooling2D")
def max_pool2d(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    return _pool(importer, ins, "max_pool2d", {})


@imports("AveragePooling2D")
def avg_pool2d(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    """'same' padding is left out of the divisor (count_include_pad=false), as TensorFlow does."""
    return _pool(importer, ins, "avg_pool2d", {"count_include_pad": False})


def _global(importer: KerasImporter, ins: list[Value], kind: str) -> Value:
    _channels_last(importer)
    return importer.emit(kind, [ins[0]], {"axes": [1, 2], "keepdims": bool(importer.config("keepdims", False))})


@imports("GlobalAveragePooling2D")
def global_avg_pool2d(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    return _global(importer, ins, "mean")


@imports("GlobalMaxPooling2D")
def global_max_pool2d(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    return _global(importer, ins, "reduce_max")


def _pairs(value: object) -> list[list[int]]:
    """Keras' ((top, bottom), (left, right)) from an int, a pair of ints, or a pair of pairs."""
    if isinstance(value, int):
        return [[value, value], [value, value]]
    return [_pair(v) for v in value]


@imports("ZeroPadding2D")
def zero_padding2d(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    _channels_last(importer)
    (t, b), (left, right) = _pairs(importer.config("padding"))
    return importer.emit("pad", [ins[0]], {"pads": [[0, 0], [t, b], [left, right], [0, 0]]})


@imports("Cropping2D")
def cropping2d(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    _channels_last(importer)
    (t, b), (left, right) = _pairs(importer.config("cropping"))
    _, h, w, _ = ins[0].type.shape
    if h is None or w is None:
        raise Unsupported("Cropping2D needs a static spatial size")
    return importer.emit("slice", [ins[0]], {"axes": [1, 2], "starts": [t, left], "ends": [h - b, w - right]})
