"""ncnn for linear algebra (irc/ir/ops/linalg.py).

linear on a 1-D blob is InnerProduct (weight [out][in], PyTorch's layout) with a fused activation where ncnn has
one; on rows (a 2-D blob, or a deeper one reshaped to rows and back) it is a Gemm with the weight constant and
transposed (transB=1) and the bias a constant C broadcast over the rows (broadcast type 4), which ncnn runs as one
matrix product (InnerProduct would take the rows one at a time). matmul by a 2-D constant is the same with the
constant transposed; two blobs are MatMul (an operand of the result's rank loses its batch dimension, a
lower-rank one broadcasts as is).
"""

from __future__ import annotations

import numpy as np

from ...ir import IrcError, Op, Value
from .emitter import Emitter, emits


def inner_product(emitter: Emitter, op: Op, x: Value, w: np.ndarray, b: np.ndarray | None) -> None:
    """InnerProduct of `x` by w [out, in] (+ b), with the activation reading `op`'s result fused."""
    shape = emitter.shape(x)
    if len(shape) > 1:
        _gemm(emitter, op, x, w, b)
        return
    out_ch = w.shape[0]
    params = {0: out_ch, 1: int(b is not None), 2: int(w.size)}
    act, kind, act_params = emitter.activation(op)
    if act is not None:
        params[9] = kind
        if act_params:
            params[10] = act_params
        emitter.alias(op.results[0], act.results[0].name)
    top = emitter.out(act if act is not None else op)
    weights = [(w, True)] + ([(b.reshape(out_ch), False)] if b is not None else [])
    emitter.layer("InnerProduct", top, [emitter.blob(x)], [top], params, weights)


def _gemm(emitter: Emitter, op: Op, x: Value, w: np.ndarray, b: np.ndarray | None) -> None:
    """x [rows..., in] @ w.T + b as one Gemm over the rows (reshaped to 2-D and back when deeper)."""
    shape = emitter.shape(x)
    out_ch, rows = w.shape[0], int(np.prod(shape[:-1]))
    top = emitter.out(op)
    bottom = emitter.blob(x)
    if len(shape) > 2:
        bottom = emitter.reshape(bottom, [rows, shape[-1]], emitter.tmp(top, "rows"))
    params = {2: 0, 3: 1, 4: 0, 5: 1, 6: int(b is not None), 7: rows, 8: out_ch, 9: shape[-1], 10: 4}
    weights = [(w, True)] + ([(b.reshape(1, out_ch), "f32")] if b is not None else [])
    if b is None:
        params[10] = -1
    inner = top if len(shape) == 2 else emitter.tmp(top, "gemm")
    emitter.layer("Gemm", inner, [bottom], [inner], params, weights)
    if inner != top:
        emitter.reshape(inner, [*shape[:-1], out_ch], top)


@emits("linear")
def _linear(emitter: Emitter, op: Op) -> None:
    w = emitter.weight(op.operands[1], "weight")
    b = emitter.weight(op.operands[2] if len(op.operands) > 2 else None, "bias")
    inner_product(emitter, op, op.operands[0], w, b)


@emits("matmul")
def _matmul(emitter: Emitter, op: Op) -> None:
    lhs, rhs = op.operands
    rank = op.results[0].type.rank
    const = emitter.array(rhs)
    if const is not None and const.ndim == 2 and emitter.array(lhs) is None:
        inner_product(emitter, op, lhs, np.ascontiguousarray(const.T), None)
        return
    if lhs.type.rank < 2 or rhs.type.rank < 2:
        raise IrcError("ncnn MatMul of a 1-D operand")
    batch = emitter.batch_axis(op.results[0])
    if batch is not None and batch >= rank - 2:
        raise IrcError(f"the batch dimension of %{op.results[0].name} is one of the multiplied dims")
    bottoms = []
    for v in (lhs, rhs):
        arr = emitter.array(v)
        if v.type.rank == rank:
            bottoms.append(emitter.blob_without(v, batch, rank))
        elif arr is not None:
            bottoms.append(emitter.blob(v, arr.shape))
        else:
            raise IrcError(f"ncnn MatMul of a computed operand of lower rank (%{v.name})")
    top = emitter.out(op)
    emitter.layer("MatMul", top, bottoms, [top], {0: 0})
