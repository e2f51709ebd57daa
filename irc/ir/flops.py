"""Floating-point operations at the imported shape, for the summaries the commands print.

A multiply-add counts as two FLOPs. Convolutions, linear layers, matrix products and attention
are counted exactly from their types; element-wise ops, normalisation, pooling and softmax count
one FLOP per output element (per window element for pooling); pure data movement counts none.
A dynamic dimension (the `?` batch) counts as 1, so a dynamic-batch model reports FLOPs per sample.
No torch here.
"""

from __future__ import annotations

import math

from .core import Module, Op

MOVEMENT = {"param", "constant", "cast", "reshape", "flatten", "transpose", "concat", "split", "slice", "pad",
            "squeeze", "unsqueeze", "expand", "expand_like", "roll", "gather", "identity", "dropout"}


def _numel(t) -> int:
    return math.prod(1 if d is None else d for d in t.shape) if t is not None else 0


def op_flops(op: Op) -> int:
    kind = op.kind
    if kind in MOVEMENT or not op.results:
        return 0
    out = op.results[0].type
    n_out = _numel(out)
    try:
        if kind in ("conv2d", "conv_transpose2d"):
            w = op.operands[1].type
            layout = op.attrs.get("layout", "nchw")
            o, i, kh, kw = w.shape if layout == "nchw" else (w.shape[3], w.shape[2], w.shape[0], w.shape[1])
            if kind == "conv2d":
                macs = n_out * i * kh * kw
            else:  # every input element meets every weight of its group
                x = op.operands[0].type
                macs = _numel(x) * o * kh * kw
            return 2 * macs + (n_out if len(op.operands) > 2 else 0)
        if kind == "linear":
            k = op.operands[1].type.shape[1]
            return 2 * n_out * k + (n_out if len(op.operands) > 2 else 0)
        if kind == "matmul":
            a = op.operands[0].type
            k = a.shape[-1] or 1
            return 2 * n_out * k
        if kind == "scaled_dot_product_attention":
            q, k = op.operands[0].type, op.operands[1].type
            lq, lk, e = q.shape[-2] or 1, k.shape[-2] or 1, q.shape[-1] or 1
            ev = out.shape[-1] or 1
            heads = _numel(out) // max(1, lq * ev)
            return heads * (2 * lq * lk * e + 2 * lq * lk * ev + 3 * lq * lk)
        if kind in ("max_pool2d", "avg_pool2d"):
            kh, kw = op.attrs["kernel_size"]
            return n_out * kh * kw
        if kind in ("adaptive_avg_pool2d", "adaptive_max_pool2d", "mean", "sum", "reduce_max", "reduce_min"):
            return _numel(op.operands[0].type)
        if kind in ("batch_norm", "layer_norm", "group_norm", "softmax", "log_softmax"):
            return (2 if kind == "batch_norm" else 5) * n_out
    except (TypeError, IndexError, ValueError, KeyError):
        return 0
    return n_out


def count_flops(module: Module) -> int:
    return sum(op_flops(op) for op in module.ops())


def format_flops(n: float) -> str:
    for unit in ("", "K", "M", "G", "T", "P"):
        if n < 1000 or unit == "P":
            return f"{n:.0f} FLOPs" if unit == "" else f"{n:.2f} {unit}FLOPs"
        n /= 1000
    return f"{n} FLOPs"
