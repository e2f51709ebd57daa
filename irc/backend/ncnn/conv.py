"""ncnn for convolutions and pooling (irc/ir/ops/conv.py).

conv2d is Convolution (groups 1) or ConvolutionDepthWise (any other group count), conv_transpose2d is
Deconvolution or DeconvolutionDepthWise; a ReLU/LeakyReLU/Clip/Sigmoid/HardSwish that alone reads the result
rides along as the layer's activation_type. Weights are stored as ncnn reads them: OIHW for a convolution
(grouped: [group][O/g][I/g][H][W], which OIHW already is), [O][I][H][W] for a deconvolution (PyTorch's IOHW
transposed per group). Pooling pads are explicit (pad_mode 1, "valid") unless ceil_mode asks for ncnn's
"full" mode; adaptive pooling is global for a 1x1 output, else ncnn's adaptive_pooling (PyTorch's bins).
ncnn is channel-first: an nhwc op is refused (run the nhwc-to-nchw pass first).
"""

from __future__ import annotations

import numpy as np

from ...ir import IrcError, Op
from ...ir.layout import permutation
from ...ir.ops import OPS
from .emitter import Emitter, Handler, emits

MAX, AVG = 0, 1  # ncnn pooling_type
VALID, FULL = 1, 0  # ncnn pad_mode


def _nchw(emitter: Emitter, op: Op) -> None:
    if op.attrs["layout"] != "nchw":
        raise IrcError("ncnn is channel-first: run the nhwc-to-nchw pass before emitting ncnn")
    emitter.channel_first(op.operands[0])


def _window(attrs: dict, kernel: list) -> dict:
    """Kernel, dilation, stride and pads (ids 1-4, 11-16) of a convolution-like layer."""
    (top, bottom), (left, right) = attrs["padding"]
    kh, kw = kernel
    (sh, sw), (dh, dw) = attrs["stride"], attrs["dilation"]
    return {1: kw, 11: kh, 2: dw, 12: dh, 3: sw, 13: sh, 4: left, 15: right, 14: top, 16: bottom}


def _kernel(op: Op) -> list:
    letters = OPS[op.name].weight_layout["nchw"]
    w = op.operands[1].type.shape
    return [w[letters.index("H")], w[letters.index("W")]]


def _with_activation(emitter: Emitter, op: Op, params: dict) -> str:
    """Fuse the activation reading `op`'s result, if ncnn can; returns the layer's top blob."""
    act, kind, act_params = emitter.activation(op)
    if act is None:
        return emitter.out(op)
    params[9] = kind
    if act_params:
        params[10] = act_params
    emitter.alias(op.results[0], act.results[0].name)
    return emitter.out(act)


def _bias(emitter: Emitter, op: Op, channels: int) -> tuple[int, list]:
    b = emitter.weight(op.operands[2] if len(op.operands) > 2 else None, "bias")
    return (0, []) if b is None else (1, [(b.reshape(channels), False)])


@emits("conv2d")
def _conv2d(emitter: Emitter, op: Op) -> None:
    _nchw(emitter, op)
    a = op.attrs
    w = emitter.weight(op.operands[1], "weight")
    out_ch, groups = w.shape[0], a["groups"]
    bias_term, bias = _bias(emitter, op, out_ch)
    params = {0: out_ch, **_window(a, _kernel(op)), 5: bias_term, 6: int(w.size)}
    kind = "Convolution"
    if groups != 1:
        kind, params[7] = "ConvolutionDepthWise", groups
    bottom = emitter.blob(op.operands[0])
    top = _with_activation(emitter, op, params)
    emitter.layer(kind, top, [bottom], [top], params, [(w, True), *bias])


@emits("conv_transpose2d")
def _conv_transpose2d(emitter: Emitter, op: Op) -> None:
    _nchw(emitter, op)
    a = op.attrs
    w = emitter.weight(op.operands[1], "weight")  # [I, O/g, H, W]
    groups = a["groups"]
    in_ch, out_per, kh, kw = w.shape
    # ncnn reads [g][O/g][I/g][H][W]
    w = w.reshape(groups, in_ch // groups, out_per, kh, kw).transpose(permutation("GIOHW", "GOIHW"))
    out_ch = out_per * groups
    bias_term, bias = _bias(emitter, op, out_ch)
    params = {0: out_ch, **_window(a, [kh, kw]), 5: bias_term, 6: int(w.size)}
    oph, opw = a["output_padding"]
    if oph or opw:
        params[18], params[19] = opw, oph
    kind = "Deconvolution"
    if groups != 1:
        kind, params[7] = "DeconvolutionDepthWise", groups
    bottom = emitter.blob(op.operands[0])
    top = _with_activation(emitter, op, params)
    emitter.layer(kind, top, [bottom], [top], params, [(np.ascontiguousarray(w), True), *bias])


def _pool_params(op: Op, kind: int) -> dict:
    a = op.attrs
    (top, bottom), (left, right) = a["padding"]
    (kh, kw), (sh, sw) = a["kernel_size"], a["stride"]
    return {0: kind, 1: kw, 11: kh, 2: sw, 12: sh, 3: left, 14: right, 13: top, 15: bottom,
            5: FULL if a["ceil_mode"] else VALID}


@emits("max_pool2d")
def _max_pool2d(emitter: Emitter, op: Op) -> None:
    _nchw(emitter, op)
    if any(d != 1 for d in op.attrs["dilation"]):
        raise IrcError("ncnn Pooling has no dilation")
    top = emitter.out(op)
    emitter.layer("Pooling", top, [emitter.blob(op.operands[0])], [top], _pool_params(op, MAX))


@emits("avg_pool2d")
def _avg_pool2d(emitter: Emitter, op: Op) -> None:
    _nchw(emitter, op)
    a = op.attrs
    params = _pool_params(op, AVG)
    params[6] = int(a["count_include_pad"])
    top, bottom = emitter.out(op), emitter.blob(op.operands[0])
    if a["ceil_mode"] and a["count_include_pad"]:
        # PyTorch counts the padding but not the extra ceil-mode tail, which ncnn's full mode counts too: the
        # padding becomes a Padding layer (counted as data) and the pooling excludes the tail
        (t, b), (left, r) = a["padding"]
        if t or b or left or r:
            padded = emitter.tmp(top, "padded")
            bottom = emitter.layer("Padding", padded, [bottom], [padded], {0: t, 1: b, 2: left, 3: r})
        params.update({3: 0, 13: 0, 14: 0, 15: 0, 6: 0})
    emitter.layer("Pooling", top, [bottom], [top], params)


def _adaptive(kind: int) -> Handler:
    def emit(emitter: Emitter, op: Op) -> None:
        _nchw(emitter, op)
        oh, ow = op.attrs["output_size"]
        top, bottom = emitter.out(op), emitter.blob(op.operands[0])
        if (oh, ow) != (1, 1):
            emitter.layer("Pooling", top, [bottom], [top], {0: kind, 7: 1, 8: ow, 18: oh})
            return
        pooled = emitter.tmp(top, "global")  # ncnn's global pooling gives [C]: reshaped to [C, 1, 1]
        emitter.layer("Pooling", pooled, [bottom], [pooled], {0: kind, 4: 1})
        emitter.reshape(pooled, emitter.shape(op.results[0]), top)

    return emit


emits("adaptive_avg_pool2d")(_adaptive(AVG))
emits("adaptive_max_pool2d")(_adaptive(MAX))
