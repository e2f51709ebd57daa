"""Convolutions and pooling (irc/ir/ops/conv.py): torch expressions and nn.Conv2d / nn.ConvTranspose2d."""

from __future__ import annotations

from ...ir import IrcError
from ...ir.core import Op
from ...ir.layout import weight_perm
from ...ir.ops import OPS
from .base import (
    LAYERS,
    Ctx,
    call,
    ctor_keywords,
    emits,
    helper,
    in_nchw,
    keyword_text,
    lit,
    module_form,
    pair,
    unless,
)


def _flat_pad(padding: list) -> tuple:
    """[[top, bottom], [left, right]] → F.pad's (left, right, top, bottom)."""
    (top, bottom), (left, right) = padding
    return (left, right, top, bottom)


def _symmetric(padding: list) -> bool:
    (top, bottom), (left, right) = padding
    return top == bottom and left == right


def _weight(op: Op, w: str) -> str:
    """The weight in torch's layout: an nhwc op's (HWIO, HWOI) is permuted."""
    layout = op.attrs["layout"]
    if layout == "nchw" or w == "None":
        return w
    return f"{w}.permute{lit(weight_perm(OPS[op.name], layout, 'nchw'))}"


def _weight_and_bias(ctx: Ctx, op) -> list[str]:
    bias = ctx.arg(2)
    return [_weight(op, ctx.arg(1))] + ([] if bias == "None" else [bias])


@emits("conv2d")
def conv2d(ctx: Ctx, op: Op) -> str:
    attrs = op.attrs
    padding = attrs["padding"]

    def body(x: str) -> str:
        pad = [padding[0][0], padding[1][0]]
        if not _symmetric(padding):
            x, pad = f"F.pad({x}, {lit(_flat_pad(padding))})", [0, 0]
        return call("F.conv2d", x, *_weight_and_bias(ctx, op), stride=unless(attrs["stride"], [1, 1]),
                    padding=unless(pad, [0, 0]), dilation=unless(attrs["dilation"], [1, 1]),
                    groups=unless(attrs["groups"], 1))

    return in_nchw(op, ctx.arg(0), body)


helper("crop2d", """
def crop2d(x, top, bottom, left, right):
    return x[:, :, top:x.shape[2] - bottom, left:x.shape[3] - right]
""")


@emits("conv_transpose2d")
def conv_transpose2d(ctx: Ctx, op: Op) -> str:
    attrs = op.attrs
    (top, bottom), (left, right) = attrs["padding"]
    least = [min(top, bottom), min(left, right)]  # torch pads both sides alike: crop the rest

    def body(x: str) -> str:
        out = call("F.conv_transpose2d", x, *_weight_and_bias(ctx, op), stride=unless(attrs["stride"], [1, 1]),
                   padding=unless(least, [0, 0]), output_padding=unless(attrs["output_padding"], [0, 0]),
                   groups=unless(attrs["groups"], 1), dilation=unless(attrs["dilation"], [1, 1]))
        if _symmetric(attrs["padding"]):
            return out
        return call(ctx.helper("crop2d"), out, top=top - least[0], bottom=bottom - least[0],
                    left=left - least[1], right=right - least[1])

    return in_nchw(op, ctx.arg(0), body)


def _pool_native(attrs: dict) -> bool:
    """torch's pooling takes symmetric padding of at most half the kernel."""
    (top, bottom), (left, right) = attrs["padding"]
    kernel = attrs["kernel_size"]
    return top == bottom and left == right and top <= kernel[0] // 2 and left <= kernel[1] // 2


helper("pool_end_pad", """
def pool_end_pad(size, kernel, stride, begin, end, dilation, ceil_mode):
    # the end padding after which an unpadded pool gives PyTorch's output length for (begin, end)
    span = size + begin + end - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + begin:
        out -= 1
    return (out - 1) * stride + dilation * (kernel - 1) + 1 - size - begin
""")

helper("max_pool2d_padded", """
def max_pool2d_padded(x, kernel_size, stride, padding, dilation, ceil_mode):
    # asymmetric or large padding, which F.max_pool2d does not take: pad with -inf, pool unpadded
    (top, bottom), (left, right) = padding
    end_h = pool_end_pad(x.shape[2], kernel_size[0], stride[0], top, bottom, dilation[0], ceil_mode)
    end_w = pool_end_pad(x.shape[3], kernel_size[1], stride[1], left, right, dilation[1], ceil_mode)
    x = F.pad(x, (left, end_w, top, end_h), value=float("-inf"))
    return F.max_pool2d(x, kernel_size, stride=stride, dilation=dilation)
""", deps=("pool_end_pad",))

helper("avg_pool2d_padded", """
def avg_pool2d_padded(x, kernel_size, stride, padding, ceil_mode, count_include_pad):
    # asymmetric or large padding, which F.avg_pool2d does not take: sum over windows / count of
    # the elements that count (the padding too when count_include_pad, never ceil_mode's overhang)
    (top, bottom), (left, right) = padding
    end_h = pool_end_pad(x.shape[2], kernel_size[0], stride[0], top, bottom, 1, ceil_mode)
    end_w = pool_end_pad(x.shape[3], kernel_size[1], stride[1], left, right, 1, ceil_mode)
    ones = torch.ones_like(x[:1, :1])
    if count_include_pad:
        mask = F.pad(F.pad(ones, (left, right, top, bottom), value=1.0), (0, end_w - right, 0, end_h - bottom))
    else:
        mask = F.pad(ones, (left, end_w, top, end_h))
    total = F.avg_pool2d(F.pad(x, (left, end_w, top, end_h)), kernel_size, stride=stride)
    return total / F.avg_pool2d(mask, kernel_size, stride=stride)
""", deps=("pool_end_pad",))


@emits("max_pool2d")
def max_pool2d(ctx: Ctx, op: Op) -> str:
    attrs = op.attrs

    def body(x: str) -> str:
        if not _pool_native(attrs):
            return call(ctx.helper("max_pool2d_padded"), x, kernel_size=attrs["kernel_size"],
                        stride=attrs["stride"], padding=attrs["padding"], dilation=attrs["dilation"],
                        ceil_mode=attrs["ceil_mode"])
        pad = [attrs["padding"][0][0], attrs["padding"][1][0]]
        return call("F.max_pool2d", x, kernel_size=attrs["kernel_size"], stride=attrs["stride"],
                    padding=unless(pad, [0, 0]), dilation=unless(attrs["dilation"], [1, 1]),
                    ceil_mode=unless(attrs["ceil_mode"], False))

    return in_nchw(op, ctx.arg(0), body)


@emits("avg_pool2d")
def avg_pool2d(ctx: Ctx, op: Op) -> str:
    attrs = op.attrs

    def body(x: str) -> str:
        if not _pool_native(attrs):
            return call(ctx.helper("avg_pool2d_padded"), x, kernel_size=attrs["kernel_size"],
                        stride=attrs["stride"], padding=attrs["padding"], ceil_mode=attrs["ceil_mode"],
                        count_include_pad=attrs["count_include_pad"])
        pad = [attrs["padding"][0][0], attrs["padding"][1][0]]
        return call("F.avg_pool2d", x, kernel_size=attrs["kernel_size"], stride=attrs["stride"],
                    padding=unless(pad, [0, 0]), ceil_mode=unless(attrs["ceil_mode"], False),
                    count_include_pad=unless(attrs["count_include_pad"], True))

    return in_nchw(op, ctx.arg(0), body)


@emits("adaptive_avg_pool2d")
def adaptive_avg_pool2d(ctx: Ctx, op: Op) -> str:
    return in_nchw(op, ctx.arg(0), lambda x: f"F.adaptive_avg_pool2d({x}, {lit(op.attrs['output_size'])})")


@emits("adaptive_max_pool2d")
def adaptive_max_pool2d(ctx: Ctx, op: Op) -> str:
    return in_nchw(op, ctx.arg(0), lambda x: f"F.adaptive_max_pool2d({x}, {lit(op.attrs['output_size'])})")


# ----------------------------------------------------------------------------- nn.Module forms


def _conv_keywords(attrs: dict, padding: list, bias) -> list[tuple[str, object]]:
    return [("stride", keyword_text(pair(attrs["stride"]), attrs["stride"] == [1, 1])),
            ("padding", keyword_text(pair(padding), padding == [0, 0])),
            ("output_padding", None if attrs.get("output_padding", [0, 0]) == [0, 0] else
             pair(attrs["output_padding"])),
            ("dilation", keyword_text(pair(attrs["dilation"]), attrs["dilation"] == [1, 1])),
            ("groups", keyword_text(attrs["groups"], attrs["groups"] == 1)),
            ("bias", None if bias is not None else False)]


def _conv_module_call(ctx: Ctx, op: Op, module: str) -> str:
    padding = op.attrs["padding"]
    if _symmetric(padding):
        return f"{module}({ctx.arg(0)})"
    return f"{module}(F.pad({ctx.arg(0)}, {lit(_flat_pad(padding))}))"


@module_form("conv2d", call=_conv_module_call)
def conv2d_module(op: Op, params: list, dtype: str | None) -> str | None:
    w, attrs = params[0], op.attrs
    if attrs["layout"] != "nchw" or w.rank != 4 or not w.is_static:
        return None
    padding = attrs["padding"]
    pad = [padding[0][0], padding[1][0]] if _symmetric(padding) else [0, 0]
    cin, cout = w.shape[1] * attrs["groups"], w.shape[0]
    return (f"nn.Conv2d({cin}, {cout}, {pair(w.shape[2:])}"
            + ctor_keywords(_conv_keywords(attrs, pad, params[1]) + [("dtype", dtype)]) + ")")


@module_form("conv_transpose2d")
def conv_transpose2d_module(op: Op, params: list, dtype: str | None) -> str | None:
    w, attrs = params[0], op.attrs
    if attrs["layout"] != "nchw" or w.rank != 4 or not w.is_static or not _symmetric(attrs["padding"]):
        return None
    keywords = _conv_keywords(attrs, [attrs["padding"][0][0], attrs["padding"][1][0]], params[1])
    keywords.append(keywords.pop(3))  # nn.ConvTranspose2d takes dilation after bias
    cin, cout = w.shape[0], w.shape[1] * attrs["groups"]
    return f"nn.ConvTranspose2d({cin}, {cout}, {pair(w.shape[2:])}" + ctor_keywords(keywords + [("dtype", dtype)]) + ")"


# ----------------------------------------------------------------------------- 3-D (video)


def _flat_pad_nd(padding: list) -> tuple:
    """[[begin, end] per spatial dim, outermost first] → F.pad's (last dim's begin, end, ..., first's)."""
    return tuple(p for pair_ in reversed(padding) for p in pair_)


def _symmetric_pads(padding: list) -> list[int] | None:
    """The per-dim padding torch's functions take when every dim pads both sides alike, else None."""
    return [b for b, _ in padding] if all(b == e for b, e in padding) else None


@emits("conv3d")
def conv3d(ctx: Ctx, op: Op) -> str:
    attrs = op.attrs

    def body(x: str) -> str:
        pad = _symmetric_pads(attrs["padding"])
        if pad is None:
            x, pad = f"F.pad({x}, {lit(_flat_pad_nd(attrs['padding']))})", [0, 0, 0]
        return call("F.conv3d", x, *_weight_and_bias(ctx, op), stride=unless(attrs["stride"], [1, 1, 1]),
                    padding=unless(pad, [0, 0, 0]), dilation=unless(attrs["dilation"], [1, 1, 1]),
                    groups=unless(attrs["groups"], 1))

    return in_nchw(op, ctx.arg(0), body)


def _pool3d_padding(op: Op) -> list[int]:
    """The symmetric padding of at most half the kernel torch's 3-D pooling takes; IrcError otherwise."""
    pad = _symmetric_pads(op.attrs["padding"])
    if pad is None or any(p > k // 2 for p, k in zip(pad, op.attrs["kernel_size"], strict=True)):
        raise IrcError(f"{op.name} with padding {op.attrs['padding']}: torch takes symmetric padding of at most "
                       "half the kernel")
    return pad


@emits("max_pool3d")
def max_pool3d(ctx: Ctx, op: Op) -> str:
    attrs, pad = op.attrs, _pool3d_padding(op)
    return in_nchw(op, ctx.arg(0), lambda x: call(
        "F.max_pool3d", x, kernel_size=attrs["kernel_size"], stride=attrs["stride"], padding=unless(pad, [0, 0, 0]),
        dilation=unless(attrs["dilation"], [1, 1, 1]), ceil_mode=unless(attrs["ceil_mode"], False)))


@emits("avg_pool3d")
def avg_pool3d(ctx: Ctx, op: Op) -> str:
    attrs, pad = op.attrs, _pool3d_padding(op)
    return in_nchw(op, ctx.arg(0), lambda x: call(
        "F.avg_pool3d", x, kernel_size=attrs["kernel_size"], stride=attrs["stride"], padding=unless(pad, [0, 0, 0]),
        ceil_mode=unless(attrs["ceil_mode"], False), count_include_pad=unless(attrs["count_include_pad"], True)))


@emits("adaptive_avg_pool3d")
def adaptive_avg_pool3d(ctx: Ctx, op: Op) -> str:
    return in_nchw(op, ctx.arg(0), lambda x: f"F.adaptive_avg_pool3d({x}, {lit(op.attrs['output_size'])})")


@module_form("conv3d")
def conv3d_module(op: Op, params: list, dtype: str | None) -> str | None:
    w, attrs = params[0], op.attrs
    pad = _symmetric_pads(attrs["padding"])
    if attrs["layout"] != "nchw" or w.rank != 5 or not w.is_static or pad is None:
        return None
    keywords = [("stride", None if attrs["stride"] == [1, 1, 1] else lit(attrs["stride"])),
                ("padding", None if pad == [0, 0, 0] else lit(pad)),
                ("dilation", None if attrs["dilation"] == [1, 1, 1] else lit(attrs["dilation"])),
                ("groups", None if attrs["groups"] == 1 else attrs["groups"]),
                ("bias", None if params[1] is not None else False), ("dtype", dtype)]
    cin, cout = w.shape[1] * attrs["groups"], w.shape[0]
    return f"nn.Conv3d({cin}, {cout}, {lit(list(w.shape[2:]))}" + ctor_keywords(keywords) + ")"


@LAYERS.register("max_pool2d")
def max_pool2d_layer(op: Op, inplace: bool) -> str | None:
    attrs = op.attrs
    if attrs["layout"] != "nchw" or not _pool_native(attrs):
        return None
    pad = [attrs["padding"][0][0], attrs["padding"][1][0]]
    return call("nn.MaxPool2d", kernel_size=attrs["kernel_size"], stride=attrs["stride"], padding=unless(pad, [0, 0]),
                dilation=unless(attrs["dilation"], [1, 1]), ceil_mode=unless(attrs["ceil_mode"], False))


@LAYERS.register("adaptive_avg_pool2d")
def adaptive_avg_pool2d_layer(op: Op, inplace: bool) -> str | None:
    return f"nn.AdaptiveAvgPool2d({lit(op.attrs['output_size'])})" if op.attrs["layout"] == "nchw" else None
