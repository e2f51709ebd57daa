"""Convolution, Deconvolution, Pooling and contrib AdaptiveAvgPooling2D (NCHW, 2-D).

MXNet pads both sides alike (`pad`). Pooling's "valid" convention rounds the output size down, "full" rounds
it up (PyTorch's ceil_mode, checked to give MXNet's size: MXNet lets the last window start in the padding);
"same" is refused. An average pool with `count_include_pad` (the default) divides by the window clipped to
the padded input, as PyTorch does. Deconvolution has no bias unless `no_bias` is False (MXNet's default).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...formats.mxnet import pooled_size
from ...ir import Value
from ..core import Unsupported
from .importer import Node, imports

if TYPE_CHECKING:
    from .importer import MxnetImporter


def _two_d(node: Node, x: Value, kernel: list | None) -> None:
    if x.type.rank != 4 or (kernel is not None and len(kernel) != 2):
        raise Unsupported(f"input {x.type}: only 2-D (NCHW) layers are supported")
    if node.text("layout", "NCHW") not in ("NCHW", "None"):
        raise Unsupported(f"layout {node.text('layout')}: only NCHW")


def _window(node: Node) -> dict:
    pad = node.ints("pad", [0, 0]) or [0, 0]
    return {"stride": node.ints("stride", [1, 1]) or [1, 1], "padding": [[pad[0], pad[0]], [pad[-1], pad[-1]]]}


def _conv_attrs(node: Node, x: Value) -> dict:
    kernel = node.ints("kernel")
    _two_d(node, x, kernel)
    return {**_window(node), "dilation": node.ints("dilate", [1, 1]) or [1, 1], "groups": node.integer("num_group", 1)}


@imports("Convolution")
def convolution(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    attrs = _conv_attrs(node, ins[0])
    operands = ins[:2] if node.flag("no_bias") else ins[:3]
    return importer.emit("conv2d", operands, attrs)


@imports("Deconvolution")
def deconvolution(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    attrs = _conv_attrs(node, ins[0])
    if node.ints("target_shape", []):
        raise Unsupported("target_shape (the output size) is not supported; give pad and adj")
    attrs["output_padding"] = node.ints("adj", [0, 0]) or [0, 0]
    operands = ins[:2] if node.flag("no_bias", True) else ins[:3]
    return importer.emit("conv_transpose2d", operands, attrs)


POOL_KINDS = {"max": ("max_pool2d", "adaptive_max_pool2d"), "avg": ("avg_pool2d", "adaptive_avg_pool2d")}


@imports("Pooling")
def pooling(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    x = ins[0]
    pool_type = node.text("pool_type", "max")
    if pool_type not in POOL_KINDS:
        raise Unsupported(f"pool_type {pool_type} (only max and avg)")
    kind, adaptive = POOL_KINDS[pool_type]
    _two_d(node, x, None)
    if node.flag("global_pool"):
        return importer.emit(adaptive, [x], {"output_size": [1, 1]})
    convention = node.text("pooling_convention", "valid")
    if convention not in ("valid", "full"):
        raise Unsupported(f"pooling_convention {convention} (only valid and full)")
    kernel = node.ints("kernel")
    if not kernel or len(kernel) != 2:
        raise Unsupported(f"kernel {kernel}: only 2-D pools")
    attrs = {**_window(node), "kernel_size": kernel, "ceil_mode": convention == "full"}
    if kind == "avg_pool2d":
        attrs["count_include_pad"] = node.flag("count_include_pad", True)
    result = importer.emit(kind, [x], attrs)
    want = [pooled_size(n, k, s, p[0], convention == "full") for n, k, s, p in
            zip(x.type.shape[2:], kernel, attrs["stride"], attrs["padding"], strict=True)]
    if list(result.type.shape[2:]) != want:
        raise Unsupported(f"MXNet's pooled size {want} has a last window wholly in the padding")
    return result


@imports("_contrib_AdaptiveAvgPooling2D")
def adaptive_avg_pooling(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    size = node.ints("output_size", [1])
    return importer.emit("adaptive_avg_pool2d", ins[:1], {"output_size": [size[0], size[-1]]})
