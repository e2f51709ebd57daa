"""Torch expressions for convolutions and pooling (irc/ir/ops/conv.py)."""

from __future__ import annotations

from .base import helper, lit, lower

TO_NCHW, TO_NHWC, HWIO_TO_OIHW = "(0, 3, 1, 2)", "(0, 2, 3, 1)", "(3, 2, 0, 1)"


def _flat_pad(padding):
    (t, b), (left, r) = padding
    return (left, r, t, b)


def _symmetric(padding):
    (t, b), (left, r) = padding
    return t == b and left == r


def _layout(op, x, body):
    """Wrap an NCHW expression for an nhwc op: permute in, compute, permute out."""
    if op.attrs.get("layout", "nchw") == "nchw":
        return body(x)
    return f"{body(f'{x}.permute{TO_NCHW}')}.permute{TO_NHWC}"


def _weight(op, w):
    return w if op.attrs.get("layout", "nchw") == "nchw" or w == "None" else f"{w}.permute{HWIO_TO_OIHW}"


@lower("conv2d")
def conv2d(ctx, op):
    a = op.attrs
    w, b = _weight(op, ctx.arg(1)), ctx.arg(2)
    tail = f"{lit(a['stride'])}, {{pad}}, {lit(a['dilation'])}, {a['groups']}"

    def body(x):
        if _symmetric(a["padding"]):
            return f"F.conv2d({x}, {w}, {b}, {tail.format(pad=lit([a['padding'][0][0], a['padding'][1][0]]))})"
        return f"F.conv2d(F.pad({x}, {lit(_flat_pad(a['padding']))}), {w}, {b}, {tail.format(pad='0')})"

    return _layout(op, ctx.arg(0), body)


helper("crop2d", """
def crop2d(x, top, bottom, left, right):
    return x[:, :, top:x.shape[2] - bottom, left:x.shape[3] - right]
""")


@lower("conv_transpose2d")
def conv_transpose2d(ctx, op):
    a = op.attrs
    w, b = _weight(op, ctx.arg(1)), ctx.arg(2)
    (t, bt), (left, r) = a["padding"]

    def body(x):
        if _symmetric(a["padding"]):
            return (f"F.conv_transpose2d({x}, {w}, {b}, {lit(a['stride'])}, {lit([t, left])}, "
                    f"{lit(a['output_padding'])}, {a['groups']}, {lit(a['dilation'])})")
        m = min(t, bt), min(left, r)
        inner = (f"F.conv_transpose2d({x}, {w}, {b}, {lit(a['stride'])}, {lit(list(m))}, "
                 f"{lit(a['output_padding'])}, {a['groups']}, {lit(a['dilation'])})")
        return f"{ctx.helper('crop2d')}({inner}, {t - m[0]}, {bt - m[0]}, {left - m[1]}, {r - m[1]})"

    return _layout(op, ctx.arg(0), body)


def _pool_native(a):
    """torch's pooling takes symmetric padding of at most half the kernel."""
    (t, b), (left, r) = a["padding"]
    k = a["kernel_size"]
    return t == b and left == r and t <= k[0] // 2 and left <= k[1] // 2


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
    return F.max_pool2d(x, kernel_size, stride, 0, dilation)
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
    total = F.avg_pool2d(F.pad(x, (left, end_w, top, end_h)), kernel_size, stride, 0)
    return total / F.avg_pool2d(mask, kernel_size, stride, 0)
""", deps=("pool_end_pad",))


@lower("max_pool2d")
def max_pool2d(ctx, op):
    a = op.attrs
    k, s, d = lit(a["kernel_size"]), lit(a["stride"]), lit(a["dilation"])

    def body(x):
        if _pool_native(a):
            pad = lit([a["padding"][0][0], a["padding"][1][0]])
            return f"F.max_pool2d({x}, {k}, {s}, {pad}, {d}, ceil_mode={a['ceil_mode']})"
        return f"{ctx.helper('max_pool2d_padded')}({x}, {k}, {s}, {lit(a['padding'])}, {d}, {a['ceil_mode']})"

    return _layout(op, ctx.arg(0), body)


@lower("avg_pool2d")
def avg_pool2d(ctx, op):
    a = op.attrs
    k, s = lit(a["kernel_size"]), lit(a["stride"])

    def body(x):
        if _pool_native(a):
            pad = lit([a["padding"][0][0], a["padding"][1][0]])
            return (f"F.avg_pool2d({x}, {k}, {s}, {pad}, ceil_mode={a['ceil_mode']}, "
                    f"count_include_pad={a['count_include_pad']})")
        return (f"{ctx.helper('avg_pool2d_padded')}({x}, {k}, {s}, {lit(a['padding'])}, {a['ceil_mode']}, "
                f"{a['count_include_pad']})")

    return _layout(op, ctx.arg(0), body)


@lower("adaptive_avg_pool2d")
def adaptive_avg_pool2d(ctx, op):
    return _layout(op, ctx.arg(0), lambda x: f"F.adaptive_avg_pool2d({x}, {lit(op.attrs['output_size'])})")


@lower("adaptive_max_pool2d")
def adaptive_max_pool2d(ctx, op):
    return _layout(op, ctx.arg(0), lambda x: f"F.adaptive_max_pool2d({x}, {lit(op.attrs['output_size'])})")
