"""Matrix products."""

from __future__ import annotations

from ..core import Op, TensorType
from .registry import ShapeError, broadcast_shapes, define, dims_equal, need_float, same_dtype, static_numel


def infer_linear(ins: list[TensorType], attrs: dict) -> TensorType:
    x, w = ins[0], ins[1]
    same_dtype(ins)
    need_float(x)
    if w.rank != 2:
        raise ShapeError(f"weight must be [out_features, in_features], got {w}")
    if x.rank < 1 or not dims_equal(x.shape[-1], w.shape[1]):
        raise ShapeError(f"input {x} does not have {w.shape[1]} features in its last dimension (weight {w})")
    if len(ins) > 2 and (ins[2].rank != 1 or not dims_equal(ins[2].shape[0], w.shape[0])):
        raise ShapeError(f"bias must be tensor<{w.shape[0]}x...>, got {ins[2]}")
    return x.with_shape(x.shape[:-1] + (w.shape[0],))


def linear_flops(op: Op) -> int:
    """A multiply-add per output element and input feature, plus the bias."""
    n_out = static_numel(op.results[0].type)
    k = op.operands[1].type.shape[1]
    return 2 * n_out * k + (n_out if len(op.operands) > 2 else 0)


define("linear", "linalg", ("input", "weight", "bias?"), (), infer_linear, params=("weight", "bias"),
       traits=("channel_weights", "input_shift_folds", "last_dim_features"), flops=linear_flops,
       doc="x @ weight.T + bias over the last dimension (torch.nn.functional.linear).")


def infer_matmul(ins: list[TensorType], attrs: dict) -> TensorType:
    a, b = ins
    same_dtype(ins)
    if a.rank == 0 or b.rank == 0:
        raise ShapeError("nn.matmul operands must have rank 1 or more")
    sa = a.shape if a.rank > 1 else (1,) + a.shape
    sb = b.shape if b.rank > 1 else b.shape + (1,)
    if not dims_equal(sa[-1], sb[-2]):
        raise ShapeError(f"contracting dimensions differ: {a} @ {b}")
    batch = broadcast_shapes([sa[:-2], sb[:-2]])
    out = batch + ((sa[-2],) if a.rank > 1 else ()) + ((sb[-1],) if b.rank > 1 else ())
    return a.with_shape(out)


def matmul_flops(op: Op) -> int:
    """A multiply-add per output element and contracted element."""
    k = op.operands[0].type.shape[-1] or 1
    return 2 * static_numel(op.results[0].type) * k


define("matmul", "linalg", ("lhs", "rhs"), (), infer_matmul, flops=matmul_flops,
       doc="Matrix product with batch broadcasting (torch.matmul semantics, 1-D operands included).")
