"""ATen convolutions and pooling → nn.conv2d, nn.conv_transpose2d, nn.conv3d and the pooling ops."""

from __future__ import annotations

import torch

from ..core import Unsupported
from .importer import as_ints, imports, static_list

aten = torch.ops.aten


def _operands(importer, x, w, b):
    return [importer.operand(x), importer.operand(w)] + ([importer.operand(b)] if b is not None else [])


def _same_pads(kernel, dilation):
    """Padding "same" (stride 1): PyTorch puts the odd extra pixel at the end."""
    pads = []
    for k, d in zip(kernel, dilation, strict=True):
        total = d * (k - 1)
        pads.append([total // 2, total - total // 2])
    return pads


@imports(aten.conv2d.default, aten.conv2d.padding)
def _conv2d(importer, node, x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    wt = w.meta["val"]
    if wt.dim() != 4:
        raise Unsupported(f"only 2-D convolutions are supported (weight has rank {wt.dim()})")
    stride, dilation = as_ints(stride, 2), as_ints(dilation, 2)
    if isinstance(padding, str):
        pads = [[0, 0], [0, 0]] if padding == "valid" else _same_pads((wt.shape[2], wt.shape[3]), dilation)
    else:
        p = as_ints(padding, 2)
        pads = [[p[0], p[0]], [p[1], p[1]]]
    return importer.result("conv2d", _operands(importer, x, w, b),
                           {"stride": stride, "padding": pads, "dilation": dilation, "groups": groups})


@imports(aten.convolution.default)
def _convolution(importer, node, x, w, b, stride, padding, dilation, transposed, output_padding, groups):
    if w.meta["val"].dim() == 5 and not transposed:
        return _conv3d(importer, node, x, w, b, stride, padding, dilation, groups)
    if w.meta["val"].dim() != 4:
        raise Unsupported("only 2-D and 3-D (not transposed) convolutions are supported")
    if not transposed:
        return _conv2d(importer, node, x, w, b, stride, padding, dilation, groups)
    return _conv_t(importer, node, x, w, b, stride, padding, output_padding, groups, dilation)


@imports(aten.conv_transpose2d.input)
def _conv_t(importer, node, x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    p = as_ints(padding, 2)
    return importer.result("conv_transpose2d", _operands(importer, x, w, b),
                           {"stride": as_ints(stride, 2), "padding": [[p[0], p[0]], [p[1], p[1]]],
                            "dilation": as_ints(dilation, 2), "groups": groups,
                            "output_padding": as_ints(output_padding, 2)})


@imports(aten.conv1d.default, aten.conv1d.padding)
def _conv1d(importer, node, x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """conv1d as conv2d over a height of 1 (what torch does inside, too)."""
    if isinstance(padding, str):
        pads = [[0, 0], [0, 0]] if padding == "valid" else \
            [[0, 0]] + _same_pads((w.meta["val"].shape[2],), (as_ints(dilation)[0],))
    else:
        p = as_ints(padding)[0]
        pads = [[0, 0], [p, p]]
    x4 = importer.emit("unsqueeze", [importer.operand(x)], {"axes": [2]})
    w4 = importer.emit("unsqueeze", [importer.operand(w)], {"axes": [2]})
    operands = [x4, w4] + ([importer.operand(b)] if b is not None else [])
    y = importer.emit("conv2d", operands, {"stride": [1, as_ints(stride)[0]], "padding": pads,
                                           "dilation": [1, as_ints(dilation)[0]], "groups": groups})
    return importer.result("squeeze", [y], {"axes": [2]})


# -- pooling (the pool ops are defined with the convolutions, in irc/ir/ops/conv.py)


def _pool_attrs(kernel, stride, padding, ceil_mode):
    k = as_ints(kernel, 2)
    s = as_ints(stride, 2) if stride else list(k)
    p = as_ints(padding, 2)
    return {"kernel_size": k, "stride": s, "padding": [[p[0], p[0]], [p[1], p[1]]], "ceil_mode": bool(ceil_mode)}


@imports(aten.max_pool2d.default)
def _max_pool(importer, node, x, kernel, stride=(), padding=0, dilation=1, ceil_mode=False):
    return importer.result("max_pool2d", [importer.operand(x)],
                           {**_pool_attrs(kernel, stride, padding, ceil_mode), "dilation": as_ints(dilation, 2)})


@imports(aten.max_pool2d_with_indices.default)
def _max_pool_idx(importer, node, x, kernel, stride=(), padding=0, dilation=1, ceil_mode=False):
    return [importer.result("max_pool2d", [importer.operand(x)],
                            {**_pool_attrs(kernel, stride, padding, ceil_mode), "dilation": as_ints(dilation, 2)},
                            index=0), None]


@imports(aten.avg_pool2d.default)
def _avg_pool(importer, node, x, kernel, stride=(), padding=0, ceil_mode=False, count_include_pad=True,
              divisor_override=None):
    if divisor_override is not None:
        raise Unsupported("avg_pool2d with divisor_override is not supported")
    return importer.result("avg_pool2d", [importer.operand(x)], {**_pool_attrs(kernel, stride, padding, ceil_mode),
                                                                 "count_include_pad": bool(count_include_pad)})


@imports(aten.adaptive_avg_pool2d.default, aten._adaptive_avg_pool2d.default)
def _adaptive_avg(importer, node, x, size):
    if x.meta["val"].dim() != 4:
        raise Unsupported("adaptive pooling of a non-4-D tensor is not supported")
    return importer.result("adaptive_avg_pool2d", [importer.operand(x)],
                           {"output_size": static_list(as_ints(size, 2), "output size")})


@imports(aten.adaptive_max_pool2d.default)
def _adaptive_max(importer, node, x, size):
    return [importer.result("adaptive_max_pool2d", [importer.operand(x)],
                            {"output_size": static_list(as_ints(size, 2), "output size")}, index=0), None]


# -- 3-D (video)


@imports(aten.conv3d.default, aten.conv3d.padding)
def _conv3d(importer, node, x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    dilation = as_ints(dilation, 3)
    if isinstance(padding, str):
        kernel = tuple(w.meta["val"].shape[2:])
        pads = [[0, 0]] * 3 if padding == "valid" else _same_pads(kernel, dilation)
    else:
        pads = [[p, p] for p in as_ints(padding, 3)]
    return importer.result("conv3d", _operands(importer, x, w, b),
                           {"stride": as_ints(stride, 3), "padding": pads, "dilation": dilation, "groups": groups})


def _pool3d_attrs(kernel, stride, padding, ceil_mode):
    k = as_ints(kernel, 3)
    return {"kernel_size": k, "stride": as_ints(stride, 3) if stride else list(k),
            "padding": [[p, p] for p in as_ints(padding, 3)], "ceil_mode": bool(ceil_mode)}


@imports(aten.max_pool3d.default, aten.max_pool3d_with_indices.default)
def _max_pool3d(importer, node, x, kernel, stride=(), padding=0, dilation=1, ceil_mode=False):
    attrs = {**_pool3d_attrs(kernel, stride, padding, ceil_mode), "dilation": as_ints(dilation, 3)}
    if node.target is aten.max_pool3d.default:
        return importer.result("max_pool3d", [importer.operand(x)], attrs)
    return [importer.result("max_pool3d", [importer.operand(x)], attrs, index=0), None]


@imports(aten.avg_pool3d.default)
def _avg_pool3d(importer, node, x, kernel, stride=(), padding=0, ceil_mode=False, count_include_pad=True,
                divisor_override=None):
    if divisor_override is not None:
        raise Unsupported("avg_pool3d with divisor_override is not supported")
    return importer.result("avg_pool3d", [importer.operand(x)], {**_pool3d_attrs(kernel, stride, padding, ceil_mode),
                                                                 "count_include_pad": bool(count_include_pad)})


@imports(aten.adaptive_avg_pool3d.default, aten._adaptive_avg_pool3d.default)
def _adaptive_avg3d(importer, node, x, size):
    return importer.result("adaptive_avg_pool3d", [importer.operand(x)],
                           {"output_size": static_list(as_ints(size, 3), "output size")})
