"""Convolutions and pooling.

Layout "nchw" (default): activations [N, C, H, W]; conv2d weight [Cout, Cin/groups, KH, KW];
conv_transpose2d weight [Cin, Cout/groups, KH, KW] (PyTorch's).
Layout "nhwc": activations [N, H, W, C]; conv2d weight [KH, KW, Cin/groups, Cout] (TensorFlow's HWIO);
conv_transpose2d weight [KH, KW, Cout/groups, Cin] (TensorFlow's).
"""

from __future__ import annotations

from ..core import Op, TensorType
from .registry import (
    Attr,
    ShapeError,
    check_len,
    check_positive,
    conv_out,
    define,
    dims_equal,
    input_flops,
    need_float,
    need_rank,
    same_dtype,
    static_numel,
)


def split_nchw(t: TensorType, layout: str, what: str = "input") -> tuple[int | None, ...]:
    need_rank(t, 4, what)
    n, a, b, c = t.shape
    return (n, a, b, c) if layout == "nchw" else (n, c, a, b)


def join_nchw(n: int | None, c: int | None, h: int | None, w: int | None, layout: str, dtype: str) -> TensorType:
    return TensorType((n, c, h, w) if layout == "nchw" else (n, h, w, c), dtype)


def weight_oihw(t: TensorType, layout: str) -> tuple[int | None, ...]:
    """The weight's dims as (O, I, KH, KW) for conv2d, (I, O, KH, KW) for a transposed conv."""
    need_rank(t, 4, "weight")
    if layout == "nchw":
        return t.shape
    kh, kw, a, b = t.shape
    return (b, a, kh, kw)


CONV_ATTRS = [
    Attr("stride", "ints", doc="[sh, sw]"),
    Attr("padding", "pairs", doc="[[top, bottom], [left, right]]"),
    Attr("dilation", "ints", doc="[dh, dw]"),
    Attr("groups", "int"),
]


TORCH_INT_MAX = 2**31 - 1


def _check_conv_attrs(attrs):
    check_len(attrs, 2, "stride", "padding", "dilation", "kernel_size", "output_padding")
    check_positive(attrs, "stride", "dilation", "groups", "kernel_size")
    if any(p < 0 for pair in attrs["padding"] for p in pair):
        raise ShapeError(f"attribute 'padding' must not be negative, got {attrs['padding']}")
    for name in ("stride", "padding", "dilation", "groups", "kernel_size", "output_padding"):
        value = attrs.get(name)
        flat = value if isinstance(value, list) else [value]
        flat = [x for item in flat for x in (item if isinstance(item, list) else [item])]
        if any(x is not None and x > TORCH_INT_MAX for x in flat):
            raise ShapeError(f"attribute '{name}' = {value} exceeds 2**31-1, the largest window size torch's "
                             "convolution and pooling kernels take")


def _bias(ins, cout):
    if len(ins) > 2:
        b = ins[2]
        if b.rank != 1 or not dims_equal(b.shape[0], cout):
            raise ShapeError(f"bias must be tensor<{cout}x...>, got {b}")


def infer_conv2d(ins: list[TensorType], attrs: dict) -> TensorType:
    _check_conv_attrs(attrs)
    x, w = ins[0], ins[1]
    same_dtype(ins)
    need_float(x)
    layout, g = attrs["layout"], attrs["groups"]
    n, c, h, wd = split_nchw(x, layout)
    cout, cin_g, kh, kw = weight_oihw(w, layout)
    if c is not None and c != cin_g * g:
        raise ShapeError(f"input has {c} channels but weight {w} with groups={g} expects {cin_g * g}")
    if cout % g:
        raise ShapeError(f"weight has {cout} output channels, not divisible by groups={g}")
    _bias(ins, cout)
    (pt, pb), (pl, pr) = attrs["padding"]
    (sh, sw), (dh, dw) = attrs["stride"], attrs["dilation"]
    return join_nchw(n, cout, conv_out(h, kh, sh, pt, pb, dh), conv_out(wd, kw, sw, pl, pr, dw), layout, x.dtype)


def _bias_flops(op: Op, n_out: int) -> int:
    return n_out if len(op.operands) > 2 else 0


def conv2d_flops(op: Op) -> int:
    """A multiply-add per output element and weight of its group, plus the bias."""
    n_out = static_numel(op.results[0].type)
    _, cin_g, kh, kw = weight_oihw(op.operands[1].type, op.attrs["layout"])
    return 2 * (n_out * cin_g * kh * kw) + _bias_flops(op, n_out)


define("conv2d", "conv", ("input", "weight", "bias?"), CONV_ATTRS, infer_conv2d, spatial=True,
       params=("weight", "bias"), weight_layout={"nchw": "OIHW", "nhwc": "HWIO"},
       traits=("channel_weights", "input_shift_folds"), flops=conv2d_flops,
       doc="2-D convolution (torch.nn.functional.conv2d) with explicit, possibly asymmetric padding.")


def infer_conv_transpose2d(ins: list[TensorType], attrs: dict) -> TensorType:
    _check_conv_attrs(attrs)
    x, w = ins[0], ins[1]
    same_dtype(ins)
    need_float(x)
    layout, g = attrs["layout"], attrs["groups"]
    n, c, h, wd = split_nchw(x, layout)
    cin, cout_g, kh, kw = weight_oihw(w, layout)
    if c is not None and c != cin:
        raise ShapeError(f"input has {c} channels but weight {w} expects {cin}")
    if cin % g:
        raise ShapeError(f"weight has {cin} input channels, not divisible by groups={g}")
    cout = cout_g * g
    _bias(ins, cout)
    (pt, pb), (pl, pr) = attrs["padding"]
    (sh, sw), (dh, dw) = attrs["stride"], attrs["dilation"]
    oph, opw = attrs["output_padding"]
    if oph >= max(sh, dh) or opw >= max(sw, dw):
        raise ShapeError("output_padding must be smaller than stride or dilation")

    def out(size, k, s, b, e, d, op):
        if size is None:
            return None
        o = (size - 1) * s - b - e + d * (k - 1) + op + 1
        if o <= 0:
            raise ShapeError(f"transposed convolution output size {o} is not positive")
        return o

    return join_nchw(n, cout, out(h, kh, sh, pt, pb, dh, oph), out(wd, kw, sw, pl, pr, dw, opw), layout, x.dtype)


def conv_transpose2d_flops(op: Op) -> int:
    """Multiply-adds counted as input elements x weight dim 0 (Cin) x kernel taps, plus the bias."""
    n_out = static_numel(op.results[0].type)
    cin, _, kh, kw = weight_oihw(op.operands[1].type, op.attrs["layout"])
    return 2 * (static_numel(op.operands[0].type) * cin * kh * kw) + _bias_flops(op, n_out)


define("conv_transpose2d", "conv", ("input", "weight", "bias?"),
       CONV_ATTRS + [Attr("output_padding", "ints", [0, 0])], infer_conv_transpose2d, spatial=True,
       params=("weight", "bias"), weight_layout={"nchw": "IOHW", "nhwc": "HWOI"},
       traits=("channel_weights",), flops=conv_transpose2d_flops,
       doc="2-D transposed convolution (torch.nn.functional.conv_transpose2d); padding crops the output.")


POOL_ATTRS = [
    Attr("kernel_size", "ints"),
    Attr("stride", "ints"),
    Attr("padding", "pairs", [[0, 0], [0, 0]]),
    Attr("ceil_mode", "bool", False),
]


def _pool(ins, attrs, dilation):
    _check_conv_attrs({**attrs, "dilation": dilation})
    x = ins[0]
    layout = attrs["layout"]
    n, c, h, w = split_nchw(x, layout)
    (kh, kw), (sh, sw) = attrs["kernel_size"], attrs["stride"]
    (pt, pb), (pl, pr) = attrs["padding"]
    ceil = attrs["ceil_mode"]
    oh = conv_out(h, kh, sh, pt, pb, dilation[0], ceil)
    return join_nchw(n, c, oh, conv_out(w, kw, sw, pl, pr, dilation[1], ceil), layout, x.dtype)


def pool_flops(op: Op) -> int:
    """One FLOP per output element and window element."""
    kh, kw = op.attrs["kernel_size"]
    return static_numel(op.results[0].type) * kh * kw


define("max_pool2d", "pool", ("input",), POOL_ATTRS + [Attr("dilation", "ints", [1, 1])],
       lambda ins, a: _pool(ins, a, a["dilation"]), spatial=True, flops=pool_flops,
       doc="2-D max pooling; padded positions never win (as in PyTorch).")


def infer_avg_pool2d(ins: list[TensorType], attrs: dict) -> TensorType:
    need_float(ins[0])
    return _pool(ins, attrs, [1, 1])


define("avg_pool2d", "pool", ("input",), POOL_ATTRS + [Attr("count_include_pad", "bool", True)],
       infer_avg_pool2d, spatial=True, flops=pool_flops,
       doc="2-D average pooling; count_include_pad says whether zero padding counts in the divisor.")


def infer_adaptive(ins: list[TensorType], attrs: dict) -> TensorType:
    x = ins[0]
    check_len(attrs, 2, "output_size")
    check_positive(attrs, "output_size")
    n, c, _, _ = split_nchw(x, attrs["layout"])
    oh, ow = attrs["output_size"]
    return join_nchw(n, c, oh, ow, attrs["layout"], x.dtype)


define("adaptive_avg_pool2d", "pool", ("input",), [Attr("output_size", "ints")], infer_adaptive, spatial=True,
       flops=input_flops,
       doc="Adaptive 2-D average pooling to a fixed output size (PyTorch's bin rule).")
define("adaptive_max_pool2d", "pool", ("input",), [Attr("output_size", "ints")], infer_adaptive, spatial=True,
       flops=input_flops,
       doc="Adaptive 2-D max pooling to a fixed output size (PyTorch's bin rule).")


# ----------------------------------------------------------------------------- 3-D (video): [N, C, D, H, W]


CONV3D_WEIGHT = {"nchw": "OIDHW", "nhwc": "DHWIO"}  # conv3d's weight in each activation layout


def split_ncdhw(t: TensorType, layout: str, what: str = "input") -> tuple:
    """(n, c, [d, h, w]) of a rank-5 activation, channels first ("nchw") or last ("nhwc")."""
    need_rank(t, 5, what)
    return (t.shape[0], t.shape[1], list(t.shape[2:])) if layout == "nchw" else \
        (t.shape[0], t.shape[4], list(t.shape[1:4]))


def join_ncdhw(n: int | None, c: int | None, spatial: list, layout: str, dtype: str) -> TensorType:
    return TensorType((n, c, *spatial) if layout == "nchw" else (n, *spatial, c), dtype)


def _check_attrs_3d(attrs: dict) -> None:
    check_len(attrs, 3, "stride", "padding", "dilation", "kernel_size", "output_size")
    check_positive(attrs, "stride", "dilation", "groups", "kernel_size", "output_size")
    if any(p < 0 for pair in attrs.get("padding", []) for p in pair):
        raise ShapeError(f"attribute 'padding' must not be negative, got {attrs['padding']}")


def _window_out(spatial: list, kernel: list, attrs: dict, dilation: list, ceil: bool = False) -> list:
    return [conv_out(size, k, s, b, e, d, ceil) for size, k, s, (b, e), d
            in zip(spatial, kernel, attrs["stride"], attrs["padding"], dilation, strict=True)]


def infer_conv3d(ins: list[TensorType], attrs: dict) -> TensorType:
    _check_attrs_3d(attrs)
    x, w = ins[0], ins[1]
    same_dtype(ins)
    need_float(x)
    layout, g = attrs["layout"], attrs["groups"]
    n, c, spatial = split_ncdhw(x, layout)
    need_rank(w, 5, "weight")
    wl = CONV3D_WEIGHT[layout]
    cout, cin_g = w.shape[wl.index("O")], w.shape[wl.index("I")]
    kernel = [w.shape[wl.index(a)] for a in "DHW"]
    if c is not None and c != cin_g * g:
        raise ShapeError(f"input has {c} channels but weight {w} with groups={g} expects {cin_g * g}")
    if cout % g:
        raise ShapeError(f"weight has {cout} output channels, not divisible by groups={g}")
    _bias(ins, cout)
    return join_ncdhw(n, cout, _window_out(spatial, kernel, attrs, attrs["dilation"]), layout, x.dtype)


def conv3d_flops(op: Op) -> int:
    """A multiply-add per output element and weight of its group, plus the bias."""
    n_out = static_numel(op.results[0].type)
    w = op.operands[1].type
    return 2 * n_out * static_numel(w) // max(1, w.shape[CONV3D_WEIGHT[op.attrs["layout"]].index("O")]) \
        + _bias_flops(op, n_out)

define("conv3d", "conv", ("input", "weight", "bias?"),
       [Attr("stride", "ints", doc="[sd, sh, sw]"), Attr("padding", "pairs", doc="[begin, end] for D, H and W"),
        Attr("dilation", "ints", doc="[dd, dh, dw]"), Attr("groups", "int")],
       infer_conv3d, spatial=True, params=("weight", "bias"), weight_layout=CONV3D_WEIGHT,
       traits=("channel_weights", "input_shift_folds"), flops=conv3d_flops,
       doc="3-D convolution over [N, C, D, H, W] (torch.nn.functional.conv3d) with explicit, possibly asymmetric "
           "padding.")

POOL3D_ATTRS = [
    Attr("kernel_size", "ints", doc="[kd, kh, kw]"),
    Attr("stride", "ints"),
    Attr("padding", "pairs", [[0, 0], [0, 0], [0, 0]]),
    Attr("ceil_mode", "bool", False),
]


def _pool3d(ins: list[TensorType], attrs: dict, dilation: list) -> TensorType:
    _check_attrs_3d({**attrs, "dilation": dilation})
    n, c, spatial = split_ncdhw(ins[0], attrs["layout"])
    out = _window_out(spatial, attrs["kernel_size"], attrs, dilation, attrs["ceil_mode"])
    return join_ncdhw(n, c, out, attrs["layout"], ins[0].dtype)


def pool3d_flops(op: Op) -> int:
    """One FLOP per output element and window element."""
    kd, kh, kw = op.attrs["kernel_size"]
    return static_numel(op.results[0].type) * kd * kh * kw


define("max_pool3d", "pool", ("input",), POOL3D_ATTRS + [Attr("dilation", "ints", [1, 1, 1])],
       lambda ins, a: _pool3d(ins, a, a["dilation"]), spatial=True, flops=pool3d_flops,
       doc="3-D max pooling over [N, C, D, H, W]; padded positions never win (as in PyTorch).")


def infer_avg_pool3d(ins: list[TensorType], attrs: dict) -> TensorType:
    need_float(ins[0])
    return _pool3d(ins, attrs, [1, 1, 1])


define("avg_pool3d", "pool", ("input",), POOL3D_ATTRS + [Attr("count_include_pad", "bool", True)],
       infer_avg_pool3d, spatial=True, flops=pool3d_flops,
       doc="3-D average pooling; count_include_pad says whether zero padding counts in the divisor.")


def infer_adaptive3d(ins: list[TensorType], attrs: dict) -> TensorType:
    _check_attrs_3d(attrs)
    n, c, _ = split_ncdhw(ins[0], attrs["layout"])
    return join_ncdhw(n, c, list(attrs["output_size"]), attrs["layout"], ins[0].dtype)


define("adaptive_avg_pool3d", "pool", ("input",), [Attr("output_size", "ints", doc="[od, oh, ow]")],
       infer_adaptive3d, spatial=True, flops=input_flops,
       doc="Adaptive 3-D average pooling to a fixed output size (PyTorch's bin rule).")
