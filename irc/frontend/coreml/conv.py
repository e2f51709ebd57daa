"""MIL convolutions and pooling → IR (irc/ir/ops/conv.py).

`conv` and `conv_transpose` carry PyTorch's weight layouts (OIHW, IOHW); padding is "custom" ([top, bottom,
left, right]), "valid", or "same"/"same_lower" (computed here from the static shapes, the odd pixel at the
end or the start). A conv_transpose `output_shape` becomes output_padding. Only 2-D ops (rank-4 inputs) map.
"""

from __future__ import annotations

from ..core import Unsupported
from .importer import CoremlImporter, imports

SPATIAL_RANK = 4


def _same(size: int, kernel: int, stride: int, dilation: int, lower: bool) -> list[int]:
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    small = total // 2
    return [total - small, small] if lower else [small, total - small]


def _padding(importer: CoremlImporter, op: object, kernel: list, strides: list, dilations: list) -> list:
    """[[top, bottom], [left, right]] from MIL's pad_type and pad."""
    pad_type = importer.attr(op, "pad_type", "valid")
    if pad_type == "custom":
        top, bottom, left, right = importer.attr(op, "pad", [0, 0, 0, 0])
        return [[top, bottom], [left, right]]
    if pad_type == "valid":
        return [[0, 0], [0, 0]]
    if pad_type in ("same", "same_lower"):
        h, w = op.inputs["x"].shape[2:4]
        lower = pad_type == "same_lower"
        return [_same(n, k, s, d, lower) for n, k, s, d in zip((h, w), kernel, strides, dilations, strict=True)]
    raise Unsupported(f"pad_type '{pad_type}'")


def _spatial_2d(op: object) -> None:
    if len(op.inputs["x"].shape) != SPATIAL_RANK:
        raise Unsupported(f"only 2-D {op.op_type} maps to irc (input rank {len(op.inputs['x'].shape)})")


def _conv_attrs(importer: CoremlImporter, op: object) -> dict:
    kernel = list(op.inputs["weight"].shape[2:4])
    strides = importer.attr(op, "strides", [1, 1])
    dilations = importer.attr(op, "dilations", [1, 1])
    return {"stride": strides, "dilation": dilations, "groups": importer.attr(op, "groups", 1),
            "padding": _padding(importer, op, kernel, strides, dilations)}


@imports("conv")
def _conv(importer: CoremlImporter, op: object) -> object:
    _spatial_2d(op)
    operands = [importer.value(op.inputs["x"]), importer.param(op.inputs["weight"])]
    if op.inputs.get("bias") is not None:
        operands.append(importer.param(op.inputs["bias"]))
    return importer.emit("conv2d", operands, _conv_attrs(importer, op))


@imports("conv_transpose")
def _conv_transpose(importer: CoremlImporter, op: object) -> object:
    _spatial_2d(op)
    operands = [importer.value(op.inputs["x"]), importer.param(op.inputs["weight"])]
    if op.inputs.get("bias") is not None:
        operands.append(importer.param(op.inputs["bias"]))
    attrs = _conv_attrs(importer, op)
    kernel = op.inputs["weight"].shape[2:4]
    size = op.inputs["x"].shape[2:4]
    out = op.outputs[0].shape[2:4]
    natural = [(n - 1) * s - sum(p) + d * (k - 1) + 1
               for n, s, p, d, k in zip(size, attrs["stride"], attrs["padding"], attrs["dilation"], kernel,
                                        strict=True)]
    attrs["output_padding"] = [int(o) - n for o, n in zip(out, natural, strict=True)]
    return importer.emit("conv_transpose2d", operands, attrs)


def _pool(kind: str):
    def handler(importer: CoremlImporter, op: object) -> object:
        _spatial_2d(op)
        kernel = importer.attr(op, "kernel_sizes")
        strides = importer.attr(op, "strides", [1, 1])
        attrs = {"kernel_size": kernel, "stride": strides, "ceil_mode": bool(importer.attr(op, "ceil_mode", False)),
                 "padding": _padding(importer, op, kernel, strides, [1, 1])}
        if kind == "avg_pool2d":
            attrs["count_include_pad"] = not importer.attr(op, "exclude_padding_from_average", False)
        return importer.emit(kind, [importer.value(op.inputs["x"])], attrs)

    return handler


imports("max_pool")(_pool("max_pool2d"))
imports("avg_pool")(_pool("avg_pool2d"))
