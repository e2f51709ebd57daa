"""canonicalize: local simplifications that never change numbers, repeated until nothing applies.

The patterns live beside their ops (`OpDef.canonical` in `irc/ir/ops/<family>.py`); this pass runs
them. Today they are:

- `dropout` and `identity` are removed (irc IR is inference-only).
- transpose(transpose(x)) becomes one transpose (none if the permutations cancel); an identity
  transpose is dropped.
- a chain of reshape-like ops (reshape, flatten, squeeze, unsqueeze) becomes one `reshape`, when the
  result's shape can be written as a reshape of the chain's input (static dims, dynamic dims carried
  through unchanged at the same index as `0`, at most one other dynamic dim as `-1`).
- no-op reshape/flatten/squeeze/unsqueeze/expand, `cast` to the same type, `pad` of zeros, `slice` of
  the whole range, single-operand `concat` and single-piece `split` are dropped.
- x*1, 1*x, x/1, x+0, 0+x, x-0 and x**1 are dropped when the constant is all ones/zeros and the result
  has exactly x's type (so a broadcasting constant that changes the shape or a dtype is kept).

Ops that become unused because of a rewrite here are erased with it (as MLIR's greedy driver does);
other dead code is `dce`'s business.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir.core import Module, Op, Value
from ..ir.ops import OPS
from ..ir.rewriter import Rewriter
from ._util import const_array, is_const
from .base import Pass

MAX_ROUNDS = 100


class PatternRewriter:
    """What a pattern may do (irc.ir.ops.registry.PatternRewriter): each rewrite also erases the producers
    it leaves unused."""

    def __init__(self, module: Module, rw: Rewriter):
        self.module, self.rw = module, rw

    def is_erased(self, op: Op) -> bool:
        return self.rw.is_erased(op)

    def constant(self, value: Value) -> np.ndarray | None:
        return const_array(self.module, value) if is_const(value) else None

    def forward(self, op: Op, value: Value) -> bool:
        producers = [v.owner for v in op.operands if v.owner is not None]
        self.rw.replace_op(op, [value])
        self._erase_dead(producers)
        return True

    def rebuild(self, op: Op, operands: list, attrs: dict, name: str | None = None) -> bool:
        producers = [v.owner for v in op.operands if v.owner is not None]
        self.rw.rebuild(op, operands=operands, attrs=attrs, name=name)
        self._erase_dead(producers)
        return True

    def _erase_dead(self, ops: list) -> None:
        for p in ops:
            if not self.rw.is_erased(p) and all(not r.uses for r in p.results):
                more = [v.owner for v in p.operands if v.owner is not None]
                self.rw.erase_op(p)
                self._erase_dead(more)


@dataclass
class Canonicalize(Pass):
    name = "canonicalize"
    summary = ("remove dropout/identity, merge transposes and reshapes, drop no-op pads/slices/reshapes/"
               "transposes/casts, fold x*1 and x+0")

    def apply(self, module: Module) -> bool:
        changed = False
        for func in module.funcs:
            for _ in range(MAX_ROUNDS):
                rw = Rewriter(func)
                rewriter = PatternRewriter(module, rw)
                for op in list(func.ops):
                    if not rw.is_erased(op):
                        rewrite(op, rewriter)
                if not rw.commit():
                    break
                changed = True
        return changed


def rewrite(op: Op, rewriter: PatternRewriter) -> bool:
    """Run the op's patterns until one rewrites it (an op whose result type is unknown is left alone)."""
    if len(op.results) == 1 and op.operands and op.result.type is None:
        return False
    return any(pattern(op, rewriter) for pattern in OPS[op.name].canonical)
