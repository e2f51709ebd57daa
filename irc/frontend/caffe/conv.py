"""Convolution, Deconvolution and Pooling (NCHW, Caffe's layout).

Caffe pads symmetrically (`pad`, or `pad_h`/`pad_w`) and rounds pooling output sizes up: the last window
may start in the padding, but never past it (`(out - 1) * stride < size + pad`). That is PyTorch's
`ceil_mode` rule, so a pool whose rounded-up size differs from the rounded-down one gets `ceil_mode = true`;
Caffe's AVE pooling divides by the window clipped to the padded input, which is `count_include_pad`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...formats.caffe import caffe_pool_size
from ...ir import Value
from ..core import Unsupported
from .importer import imports

if TYPE_CHECKING:
    from .importer import CaffeImporter


def _two(param: object, name: str, default: int) -> list[int]:
    """A (height, width) setting: `PREFIX_h`/`PREFIX_w` when given, else the repeated or single `NAME`
    (`kernel_size` goes with kernel_h/kernel_w)."""
    prefix = name.removesuffix("_size")
    if param.HasField(f"{prefix}_h") or param.HasField(f"{prefix}_w"):
        return [int(getattr(param, f"{prefix}_h")), int(getattr(param, f"{prefix}_w"))]
    values = getattr(param, name)
    values = list(values) if not isinstance(values, int) else ([values] if param.HasField(name) else [])
    if not values:
        return [default, default]
    if len(values) > 2:
        raise Unsupported(f"{len(values)} spatial dims in '{name}': only 2-D layers are supported")
    return [int(values[0]), int(values[-1])]


def _spatial_input(x: Value) -> None:
    if x.type.rank != 4:
        raise Unsupported(f"input {x.type} is not 4-D: only 2-D spatial layers are supported")


def _conv_attrs(param: object) -> tuple[list[int], dict]:
    if param.axis != 1:
        raise Unsupported(f"convolution over axis {param.axis} (only axis 1, the channels)")
    kernel = _two(param, "kernel_size", 0)
    if 0 in kernel:
        raise Unsupported("no kernel size")
    pad = _two(param, "pad", 0)
    dilation = list(param.dilation) or [1]
    attrs = {"stride": _two(param, "stride", 1), "padding": [[pad[0], pad[0]], [pad[1], pad[1]]],
             "dilation": [int(dilation[0]), int(dilation[-1])], "groups": int(param.group)}
    return kernel, attrs


@imports("Convolution")
def convolution(importer: CaffeImporter, layer: object, ins: list[Value]) -> Value:
    x = ins[0]
    _spatial_input(x)
    param = layer.proto.convolution_param
    kernel, attrs = _conv_attrs(param)
    cout, cin = int(param.num_output), x.type.shape[1]
    operands = [x, importer.blob(0, lambda a: a.reshape(cout, cin // attrs["groups"], *kernel))]
    if param.bias_term:
        operands.append(importer.blob(1, lambda a: a.reshape(-1)))
    return importer.emit("conv2d", operands, attrs)


@imports("Deconvolution")
def deconvolution(importer: CaffeImporter, layer: object, ins: list[Value]) -> Value:
    x = ins[0]
    _spatial_input(x)
    param = layer.proto.convolution_param
    kernel, attrs = _conv_attrs(param)
    cout, cin = int(param.num_output), x.type.shape[1]
    operands = [x, importer.blob(0, lambda a: a.reshape(cin, cout // attrs["groups"], *kernel))]
    if param.bias_term:
        operands.append(importer.blob(1, lambda a: a.reshape(-1)))
    return importer.emit("conv_transpose2d", operands, {**attrs, "output_padding": [0, 0]})


POOL_KINDS = {0: ("max_pool2d", "adaptive_max_pool2d"), 1: ("avg_pool2d", "adaptive_avg_pool2d")}


@imports("Pooling")
def pooling(importer: CaffeImporter, layer: object, ins: list[Value]) -> Value:
    x = ins[0]
    _spatial_input(x)
    param = layer.proto.pooling_param
    if param.pool not in POOL_KINDS:
        raise Unsupported("STOCHASTIC pooling is not supported (only MAX and AVE)")
    kind, adaptive = POOL_KINDS[param.pool]
    if param.global_pooling:
        return importer.emit(adaptive, [x], {"output_size": [1, 1]})
    kernel, stride, pad = _two(param, "kernel_size", 0), _two(param, "stride", 1), _two(param, "pad", 0)
    if 0 in kernel:
        raise Unsupported("no kernel size (and not global_pooling)")
    sizes = x.type.shape[2:]
    ceil = bool(param.ceil_mode) and any(
        caffe_pool_size(n, k, s, p, True) != caffe_pool_size(n, k, s, p, False)
        for n, k, s, p in zip(sizes, kernel, stride, pad, strict=True))
    attrs = {"kernel_size": kernel, "stride": stride, "padding": [[pad[0], pad[0]], [pad[1], pad[1]]],
             "ceil_mode": ceil}
    if kind == "avg_pool2d":
        attrs["count_include_pad"] = True
    return importer.emit(kind, [x], attrs)
