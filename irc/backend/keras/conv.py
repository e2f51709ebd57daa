"""Keras for convolutions and pooling (irc/ir/ops/conv.py), channels-last.

Padding: none is 'valid'; TensorFlow's 'same' (the extra pixel at the end, for the static input size) is 'same';
any other padding is a ZeroPadding2D in front ('valid' after it) — for max pooling a pad with -inf instead.
A conv whose groups equal its input channels (one input channel per group) is a DepthwiseConv2D; the IR's
HWIO weight [KH, KW, 1, C*M] is Keras' [KH, KW, C, M]. Conv2DTranspose keeps the IR's HWOI kernel; its
padding is a Cropping2D after a 'valid' transposed conv. Adaptive pooling is global pooling (1x1) or a plain
pool when the input divides evenly.
"""

from __future__ import annotations

import math

from ...ir import Op
from .emitter import KerasEmitter, NotEmittable, emits, lit

VALID = [[0, 0], [0, 0]]


def channels_last(op: Op) -> None:
    if op.attrs["layout"] != "nhwc":
        raise NotEmittable("a channel-first (nchw) op: Keras layers here are channels-last")


def tf_same(size: int | None, kernel: int, stride: int, dilation: int = 1) -> list[int] | None:
    """TensorFlow's 'same' padding [before, after] of one spatial dim (None when the size is dynamic)."""
    if size is None:
        return None
    span = (kernel - 1) * dilation + 1
    total = max((math.ceil(size / stride) - 1) * stride + span - size, 0)
    return [total // 2, total - total // 2]


def spatial_size(op: Op) -> tuple:
    _, h, w, _ = op.operands[0].type.shape
    return h, w


def padding_mode(op: Op, padding: list, kernel: list, stride: list, dilation: list) -> str | None:
    """'valid' or 'same' when `padding` is one of them for this op's input, else None."""
    if padding == VALID:
        return "valid"
    h, w = spatial_size(op)
    same = [tf_same(h, kernel[0], stride[0], dilation[0]), tf_same(w, kernel[1], stride[1], dilation[1])]
    return "same" if padding == same else None


def pad_input(emitter: KerasEmitter, op: Op, x: str, padding: list, fill: float = 0.0) -> str:
    """`x` padded by `padding` ([[top, bottom], [left, right]]): a ZeroPadding2D, or keras.ops.pad for -inf."""
    if any(p < 0 for pair in padding for p in pair):
        raise NotEmittable(f"negative padding {padding}")
    base = op.results[0].name + "_pad"
    if fill == 0.0:
        return emitter.helper_layer(base, "ZeroPadding2D", [lit(padding)], x)
    pads = [[0, 0], *padding, [0, 0]]
    return emitter.assign(base, f"keras.ops.pad({x}, {lit(pads)}, constant_values={lit(fill)})", "pad")


def _common(kernel: list, stride: list, mode: str, dilation: list) -> list[str]:
    args = [f"kernel_size={lit(kernel)}", f"strides={lit(stride)}", f"padding={mode!r}"]
    if any(d != 1 for d in dilation):
        if any(s != 1 for s in stride):
            raise NotEmittable("a dilated conv with a stride (Keras allows one or the other)")
        args.append(f"dilation_rate={lit(dilation)}")
    return args


def _bias(emitter: KerasEmitter, op: Op) -> list:
    return [emitter.weight(op.operands[2], "the bias")] if len(op.operands) > 2 else []


@emits("conv2d")
def conv2d(emitter: KerasEmitter, op: Op) -> None:
    channels_last(op)
    attrs = op.attrs
    w = emitter.weight(op.operands[1])
    kh, kw, per_group, filters = w.shape
    channels = op.operands[0].type.shape[-1]
    x = emitter.tensor(op.operands[0])
    mode = padding_mode(op, attrs["padding"], [kh, kw], attrs["stride"], attrs["dilation"])
    if mode is None:
        x, mode = pad_input(emitter, op, x, attrs["padding"]), "valid"
    args = _common([kh, kw], attrs["stride"], mode, attrs["dilation"])
    bias = _bias(emitter, op)
    args.append(f"use_bias={bool(bias)}")
    groups = attrs["groups"]
    if groups > 1 and groups == channels and per_group == 1:
        multiplier = filters // channels
        emitter.layer(op, "DepthwiseConv2D", args + [f"depth_multiplier={multiplier}"], x,
                      [w.reshape(kh, kw, channels, multiplier), *bias])
        return
    if groups > 1:
        args.append(f"groups={groups}")
    emitter.layer(op, "Conv2D", [str(filters)] + args, x, [w, *bias])


@emits("conv_transpose2d")
def conv_transpose2d(emitter: KerasEmitter, op: Op) -> None:
    channels_last(op)
    attrs = op.attrs
    if attrs["groups"] != 1:
        raise NotEmittable(f"a grouped transposed conv (groups={attrs['groups']}); Conv2DTranspose has no groups")
    w = emitter.weight(op.operands[1])
    kh, kw, filters, _ = w.shape
    args = [str(filters)] + _common([kh, kw], attrs["stride"], "valid", attrs["dilation"])
    bias = _bias(emitter, op)
    args += [f"output_padding={lit(attrs['output_padding'])}", f"use_bias={bool(bias)}"]
    x = emitter.tensor(op.operands[0])
    if attrs["padding"] == VALID:
        emitter.layer(op, "Conv2DTranspose", args, x, [w, *bias])
        return
    full = emitter.helper_layer(op.results[0].name + "_full", "Conv2DTranspose", args, x)
    emitter.lines[-1].weights = [w, *bias]
    emitter.layer(op, "Cropping2D", [lit(attrs["padding"])], full)


def _ceil_extra(op: Op, padding: list) -> list[int]:
    """The extra end padding PyTorch's ceil_mode adds on each spatial dim (a last window starting inside)."""
    attrs = op.attrs
    extra = []
    for size, k, s, d, (before, after) in zip(spatial_size(op), attrs["kernel_size"], attrs["stride"],
                                              attrs.get("dilation", [1, 1]), padding, strict=True):
        if size is None:
            raise NotEmittable("ceil_mode pooling needs a static spatial size")
        span = (k - 1) * d + 1
        out = math.ceil((size + before + after - span) / s) + 1
        if (out - 1) * s >= size + before:
            out -= 1
        extra.append(max((out - 1) * s + span - (size + before + after), 0))
    return extra


@emits("max_pool2d")
def max_pool2d(emitter: KerasEmitter, op: Op) -> None:
    """Padding (and ceil_mode's extra end) is -inf, so it never wins: exactly PyTorch's max pooling."""
    channels_last(op)
    attrs = op.attrs
    if any(d != 1 for d in attrs["dilation"]):
        raise NotEmittable("dilated max pooling (Keras' MaxPooling2D has no dilation)")
    padding = [list(p) for p in attrs["padding"]]
    if attrs["ceil_mode"]:
        for pair, more in zip(padding, _ceil_extra(op, padding), strict=True):
            pair[1] += more
    x = emitter.tensor(op.operands[0])
    kernel, stride = attrs["kernel_size"], attrs["stride"]
    mode = padding_mode(op, padding, kernel, stride, [1, 1])
    if mode is None:
        x, mode = pad_input(emitter, op, x, padding, float("-inf")), "valid"
    emitter.layer(op, "MaxPooling2D", [f"pool_size={lit(kernel)}", f"strides={lit(stride)}", f"padding={mode!r}"],
                  x)


@emits("avg_pool2d")
def avg_pool2d(emitter: KerasEmitter, op: Op) -> None:
    """Keras' 'same' leaves the padding out of the divisor (count_include_pad=false); a counted padding is a
    ZeroPadding2D in front."""
    channels_last(op)
    attrs = op.attrs
    padding = attrs["padding"]
    if attrs["ceil_mode"] and any(_ceil_extra(op, padding)):
        raise NotEmittable("average pooling whose ceil_mode adds a window (PyTorch's divisor there has no Keras form)")
    x = emitter.tensor(op.operands[0])
    kernel, stride = attrs["kernel_size"], attrs["stride"]
    mode = padding_mode(op, padding, kernel, stride, [1, 1])
    if mode == "same" and attrs["count_include_pad"]:
        mode = None
    if mode is None:
        if not attrs["count_include_pad"]:
            raise NotEmittable(f"average pooling with padding {padding} left out of the divisor "
                               "(Keras: only TensorFlow's 'same')")
        x, mode = pad_input(emitter, op, x, padding), "valid"
    emitter.layer(op, "AveragePooling2D", [f"pool_size={lit(kernel)}", f"strides={lit(stride)}",
                                           f"padding={mode!r}"], x)


def _adaptive_factors(size: int | None, out: int) -> tuple[int, int]:
    """(pool factor, upsampling factor) of one dim: PyTorch's bins are even windows when one size divides the
    other (`out` a multiple of `size`: each bin is one pixel, repeated)."""
    if size is not None and size % out == 0:
        return size // out, 1
    if size is not None and out % size == 0:
        return 1, out // size
    raise NotEmittable(f"adaptive pooling of a dim of {size} to {out} (uneven bins have no Keras layer)")


def _adaptive(global_layer: str, pool_layer: str):
    """Global pooling to 1x1; else a pool with even windows and/or a nearest UpSampling2D."""

    def emit(emitter: KerasEmitter, op: Op) -> None:
        channels_last(op)
        output_size = op.attrs["output_size"]
        x = emitter.tensor(op.operands[0])
        if list(output_size) == [1, 1]:
            emitter.layer(op, global_layer, ["keepdims=True"], x)
            return
        factors = [_adaptive_factors(n, o) for n, o in zip(spatial_size(op), output_size, strict=True)]
        pool, up = [f[0] for f in factors], [f[1] for f in factors]
        if up == [1, 1]:
            emitter.layer(op, pool_layer, [f"pool_size={lit(pool)}", f"strides={lit(pool)}"], x)
            return
        if pool != [1, 1]:
            x = emitter.helper_layer(op.results[0].name + "_pool", pool_layer,
                                     [f"pool_size={lit(pool)}", f"strides={lit(pool)}"], x)
        emitter.layer(op, "UpSampling2D", [f"size={lit(up)}", "interpolation='nearest'"], x)

    return emit


emits("adaptive_avg_pool2d")(_adaptive("GlobalAveragePooling2D", "AveragePooling2D"))
emits("adaptive_max_pool2d")(_adaptive("GlobalMaxPooling2D", "MaxPooling2D"))
