"""cse: merge ops that compute the same thing — same op name, same operands (in order; either order for
ops with the `commutative` trait: add, mul, maximum, minimum), equal attributes (defaults filled in) and
equal result types.

Params with the same key and constants with equal literals (however written: splat or not) merge too.
The first op in program order stays (with its name and location); later copies are replaced by it.
Every irc op is pure at inference (dropout included), so any two identical ops may merge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir.core import DenseAttr, Module, Op
from ..ir.dtypes import IR_TO_NP
from ..ir.ops import OPS
from ..ir.printer import format_attr
from ..ir.rewriter import Rewriter
from ._util import dense_array
from .base import Pass


def _np_dtype(value: DenseAttr) -> type:
    return np.float32 if value.type.dtype == "bf16" else IR_TO_NP[value.type.dtype]


def _attr_key(value) -> str:
    if isinstance(value, DenseAttr):  # equal values, however written; a splat is never materialised
        if value.is_splat:
            return f"{value.type}:splat:{np.asarray(value.values, dtype=_np_dtype(value)).item()!r}"
        arr = np.ascontiguousarray(dense_array(value))  # written out element by element: as large as the text
        flat = arr.reshape(-1)
        if flat.size and (flat == flat[0]).all() and flat[0] == flat[0]:
            return f"{value.type}:splat:{flat[0].item()!r}"
        return f"{value.type}:{arr.dtype.str}:{arr.tobytes().hex()}"
    return format_attr(value)


def op_key(op: Op) -> tuple:
    """What two ops must share to compute the same thing."""
    ids = [id(v) for v in op.operands]
    if OPS[op.name].has("commutative"):
        ids.sort()
    attrs = op.attrs
    text = ",".join(f"{k}={_attr_key(attrs[k])}" for k in sorted(attrs) if attrs[k] is not None)
    return op.name, tuple(ids), text, tuple(str(r.type) for r in op.results)


@dataclass
class CommonSubexpressionElimination(Pass):
    name = "cse"
    summary = "merge identical ops on identical operands (params with the same key, equal constants too)"

    def apply(self, module: Module) -> bool:
        changed = False
        for func in module.funcs:
            rw = Rewriter(func)
            seen = {}
            for op in func.ops:
                if not op.results:
                    continue
                key = op_key(op)
                first = seen.get(key)
                if first is None:
                    seen[key] = op
                else:
                    rw.replace_op(op, first.results)
            changed |= rw.commit()
        return changed
