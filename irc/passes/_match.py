"""Helpers the pattern-fusing passes share (fuse-silu, fuse-gelu, fuse-linear): reading a pattern's pieces."""

from __future__ import annotations

from ..ir.rewriter import Rewriter


def only_use(v) -> bool:
    return len(v.uses) == 1


def other_operand(op, v):
    """The operand of binary `op` that is not `v` (None when `v` is neither)."""
    a, b = op.operands
    return b if a is v else a if b is v else None


def scalar_of(module, v) -> float | None:
    """The number a one-element float param or a constant holding one number (a splat included) holds."""
    op = v.owner
    if op is not None and op.name == "nn.param":
        store = module.weights
        if store is None or not store.has(op.attrs["key"]):
            return None
        arr = store.numpy(op.attrs["key"])
        return float(arr.ravel()[0]) if arr.size == 1 and arr.dtype.kind == "f" else None
    if op is None or op.name != "nn.constant":
        return None
    vals = op.attrs["value"].values
    while isinstance(vals, list):
        if len(vals) != 1:
            return None
        vals = vals[0]
    return float(vals)


def near(a: float | None, b: float) -> bool:
    return a is not None and abs(a - b) <= 1e-6 * abs(b)


def erase_unused(rw: Rewriter, values) -> None:
    """Erase the ops defining `values` when nothing uses them any more, and so on up the chain."""
    for v in values:
        op = v.owner
        if op is None or rw.is_erased(op) or any(r.uses for r in op.results):
            continue
        operands = list(op.operands)
        rw.erase_op(op)
        erase_unused(rw, operands)
