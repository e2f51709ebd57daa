"""fold-constants: compute at compile time every op whose operands are all params or constants.

The op runs through the torch executor's op → torch table (the same expressions the executor and the
PyTorch emitter use), so a folded value is bit-for-bit what the unfolded graph computes. Results with at
most 16 elements become inline `nn.constant`s (shape arithmetic left by `view`/`reshape`/`size` reads
back as literals); larger ones become new params with a fresh key derived from the result's name.

What does not fold: ops with a dynamic result type, and ops whose result would be larger than all their
operands together (an `expand` of a bias to a full activation would bloat the weight file and save
nothing at run time). Inputs that became dead are erased so their keys leave the weight file.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir.core import Module, Op
from ..ir.rewriter import Rewriter
from ._util import INLINE_MAX, MATERIALIZE_MAX, Consts, const_array, evaluate, is_const
from .base import Pass, PassError


@dataclass
class FoldConstants(Pass):
    name = "fold-constants"
    summary = "compute ops whose operands are all params/constants at compile time (small results inline)"

    def apply(self, module: Module) -> bool:
        changed = False
        for func in module.funcs:
            rw = Rewriter(func)
            consts = Consts(module, rw)
            for op in list(func.ops):
                arrays = _foldable(module, op)
                if arrays is None:
                    continue
                try:
                    outs = evaluate(op, arrays)
                except (RuntimeError, IndexError, ValueError) as e:  # the program itself fails on its constants
                    raise PassError(_cannot_evaluate(module, op, e)) from None
                news = [consts.new(op, a, r.type.dtype, r.name, r.name, op.loc)
                        for r, a in zip(op.results, outs, strict=False)]
                inputs = list(op.operands)
                rw.replace_op(op, news)
                rw.adopt_names(news, op.results)
                for v in inputs:
                    if not v.uses and not rw.is_erased(v.owner):
                        rw.erase_op(v.owner)
            changed |= rw.commit()
        return changed


def _cannot_evaluate(module: Module, op: Op, e: Exception) -> str:
    where = f"{module.path}:{op.pos[0]}:{op.pos[1]}: error: " if module.path and op.pos else ""
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return f"{where}%{op.results[0].name} = {op.name} fails on its constant operands: {first}"


def _foldable(module: Module, op: Op) -> list | None:
    """The operands' values when `op` folds (operands all params/constants, static results no larger than
    needed), else None. Ops without operands (params and constants themselves) never fold."""
    if not op.operands or not all(is_const(v) for v in op.operands):
        return None
    if not all(r.type is not None and r.type.is_static for r in op.results):
        return None
    total_in = sum(v.type.numel() or 0 for v in op.operands)
    total_out = sum(r.type.numel() for r in op.results)
    if total_out > max(INLINE_MAX, total_in) or total_out > MATERIALIZE_MAX:
        return None
    arrays = [const_array(module, v) for v in op.operands]
    return None if any(a is None for a in arrays) else arrays
