"""Conv, ConvTranspose and the pools → nn.conv2d, nn.conv_transpose2d, nn.*_pool2d; on rank-5 (video) inputs
Conv, MaxPool, AveragePool and GlobalAveragePool → nn.conv3d, nn.max_pool3d, nn.avg_pool3d, nn.adaptive_avg_pool3d.

`auto_pad` SAME_UPPER/SAME_LOWER become explicit padding (the extra pixel at the end for UPPER, at the
start for LOWER), which needs static spatial dims; pads [t, l, b, r] become [[t, b], [l, r]] (and
[d0, h0, w0, d1, h1, w1] [[d0, d1], [h0, h1], [w0, w1]]).
AveragePool `count_include_pad` and `ceil_mode` carry over (irc's ceil rule is PyTorch's, which
onnxruntime also implements).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...ir import Value
from ..core import Unsupported
from .tables import imports

if TYPE_CHECKING:
    from .importer import OnnxImporter

# the IR op of each by the input's rank: 2-D (rank 4) or 3-D (rank 5)
CONV = {4: "conv2d", 5: "conv3d"}
MAX_POOL = {4: "max_pool2d", 5: "max_pool3d"}
AVG_POOL = {4: "avg_pool2d", 5: "avg_pool3d"}


def spatial_pads(importer: OnnxImporter, in_hw: list, kernel: list[int], strides: list[int],
                 dilations: list[int]) -> list[list[int]]:
    """[[top, bottom], [left, right]] (a [begin, end] pair per spatial dim) from pads / auto_pad."""
    auto, n = importer.attr("auto_pad", "NOTSET"), len(in_hw)
    if auto in ("NOTSET", ""):
        p = importer.attr("pads", [0] * (2 * n))
        if len(p) != 2 * n:
            raise Unsupported(f"pads {p} are not {n}-D")
        return [[p[i], p[i + n]] for i in range(n)]
    if auto == "VALID":
        return [[0, 0] for _ in range(n)]
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        out = []
        for size, k, s, d in zip(in_hw, kernel, strides, dilations, strict=False):
            if size is None:
                raise Unsupported(f"auto_pad {auto} on a dynamic spatial dim needs static sizes")
            o = -(-size // s)
            total = max(0, (o - 1) * s + (k - 1) * d + 1 - size)
            small, big = total // 2, total - total // 2
            out.append([small, big] if auto == "SAME_UPPER" else [big, small])
        return out
    raise Unsupported(f"unknown auto_pad '{auto}'")


def need_rank4(x: Value, what: str = "input") -> None:
    if x.type.rank != 4:
        raise Unsupported(f"only 2-D (rank-4) {what}s are supported, got {x.type}")


def need_rank4_or_5(x: Value) -> int:
    """The number of spatial dims (2 or 3) of a rank-4 or rank-5 input."""
    if x.type.rank not in (4, 5):
        raise Unsupported(f"only 2-D and 3-D (rank-4 and rank-5) inputs are supported, got {x.type}")
    return x.type.rank - 2


def _conv_inputs(importer, ranks=need_rank4):
    """Conv and ConvTranspose alike: input, weight, optional bias, kernel size, strides, dilations."""
    x, w = importer.val(0), importer.val(1, "weight")
    ranks(x)
    n = x.type.rank - 2
    return (x, w, importer.opt_val(2), list(w.type.shape[2:]), importer.attr("strides", [1] * n),
            importer.attr("dilations", [1] * n))


@imports("Conv")
def _conv(importer, node):
    x, w, b, k, s, d = _conv_inputs(importer, need_rank4_or_5)
    pads = spatial_pads(importer, x.type.shape[2:], k, s, d)
    ops = [x, w] + ([b] if b is not None else [])
    return importer.emit(CONV[x.type.rank], ops,
                         {"stride": s, "padding": pads, "dilation": d, "groups": importer.attr("group", 1)})


def _transpose_pads(x, kernel, strides, dilations, out_pad, out_shape, auto):
    """ConvTranspose padding that gives `out_shape` (raising output_padding when the pads would be negative)."""
    pads = []
    for i in range(2):
        size = x.type.shape[2 + i]
        if size is None:
            raise Unsupported("output_shape on dynamic spatial dims")
        total = strides[i] * (size - 1) + out_pad[i] + (kernel[i] - 1) * dilations[i] + 1 - out_shape[i]
        if total < 0:
            out_pad[i] += -total
            total = 0
        small, big = total // 2, total - total // 2
        pads.append([small, big] if auto == "SAME_UPPER" else [big, small])
    return pads


@imports("ConvTranspose")
def _conv_transpose(importer, node):
    x, w, b, k, s, d = _conv_inputs(importer)
    out_pad = list(importer.attr("output_padding", [0, 0]))
    out_shape = importer.attr("output_shape")
    auto = importer.attr("auto_pad", "NOTSET")
    if out_shape is None and auto in ("SAME_UPPER", "SAME_LOWER"):
        if None in x.type.shape[2:]:
            raise Unsupported("auto_pad SAME on dynamic spatial dims")
        out_shape = [h * st for h, st in zip(x.type.shape[2:], s, strict=False)]
    if out_shape is not None:
        pads = _transpose_pads(x, k, s, d, out_pad, list(out_shape)[-2:], auto)
    else:
        p = importer.attr("pads", [0, 0, 0, 0])
        pads = [[p[0], p[2]], [p[1], p[3]]]
    ops = [x, w] + ([b] if b is not None else [])
    return importer.emit("conv_transpose2d", ops, {"stride": s, "padding": pads, "dilation": d,
                                                   "groups": importer.attr("group", 1), "output_padding": out_pad})


def _pool_common(importer):
    x = importer.val(0)
    n = need_rank4_or_5(x)
    k = importer.attr("kernel_shape")
    s = importer.attr("strides", [1] * n)
    d = importer.attr("dilations", [1] * n)
    pads = spatial_pads(importer, x.type.shape[2:], k, s, d)
    return x, k, s, d, pads


@imports("MaxPool")
def _max_pool(importer, node):
    x, k, s, d, pads = _pool_common(importer)
    if importer.attr("storage_order", 0) and len(node.output) > 1:
        raise Unsupported("storage_order")
    return [importer.emit(MAX_POOL[x.type.rank], [x], {"kernel_size": k, "stride": s, "padding": pads, "dilation": d,
                                      "ceil_mode": bool(importer.attr("ceil_mode", 0))}), None]


@imports("AveragePool")
def _avg_pool(importer, node):
    x, k, s, d, pads = _pool_common(importer)
    if any(v != 1 for v in d):
        raise Unsupported(f"AveragePool with dilations {d}")
    return importer.emit(AVG_POOL[x.type.rank], [x],
                         {"kernel_size": k, "stride": s, "padding": pads,
                          "ceil_mode": bool(importer.attr("ceil_mode", 0)),
                          "count_include_pad": bool(importer.attr("count_include_pad", 0))})


@imports("GlobalAveragePool")
def _global_avg_pool(importer, node):
    x = importer.val(0)
    if x.type.rank == 4:
        return importer.emit("adaptive_avg_pool2d", [x], {"output_size": [1, 1]})
    if x.type.rank == 5:
        return importer.emit("adaptive_avg_pool3d", [x], {"output_size": [1, 1, 1]})
    return importer.emit("mean", [x], {"axes": list(range(2, x.type.rank)), "keepdims": True})


@imports("GlobalMaxPool")
def _global_max_pool(importer, node):
    x = importer.val(0)
    if x.type.rank == 4:
        return importer.emit("adaptive_max_pool2d", [x], {"output_size": [1, 1]})
    return importer.emit("reduce_max", [x], {"axes": list(range(2, x.type.rank)), "keepdims": True})
