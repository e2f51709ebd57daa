"""cse: merge ops that compute the same thing — same op name, same operands (in order; either order for
add, mul, maximum and minimum), equal attributes (defaults filled in) and equal result types.

Params with the same key and constants with equal literals merge too. The first op in program order
stays (with its name and location); later copies are replaced by it. Every irc op is pure at inference
(dropout included), so any two identical ops may merge.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir.printer import format_attr
from ..ir.rewriter import Rewriter
import numpy as np

from ._util import attrs_of, const_array
from .base import Pass

COMMUTATIVE = ("nn.add", "nn.mul", "nn.maximum", "nn.minimum")


def op_key(op):
    ids = [id(v) for v in op.operands]
    if op.name in COMMUTATIVE:
        ids.sort()
    attrs = attrs_of(op)
    if op.name == "nn.constant":  # equal values, however written (splat or not)
        d = attrs["value"]
        arr = np.ascontiguousarray(const_array(None, op.result))
        return op.name, (), f"{d.type}:{arr.dtype.str}:{arr.tobytes().hex()}", (str(op.result.type),)
    text = ",".join(f"{k}={format_attr(attrs[k])}" for k in sorted(attrs) if attrs[k] is not None)
    return op.name, tuple(ids), text, tuple(str(r.type) for r in op.results)


@dataclass
class CommonSubexpressionElimination(Pass):
    name = "cse"
    summary = "merge identical ops on identical operands (params with the same key, equal constants too)"

    def apply(self, module) -> bool:
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
