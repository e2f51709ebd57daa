"""dce: erase ops whose results nobody uses."""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Module
from ..ir.rewriter import Rewriter
from .base import Pass


@dataclass
class DeadCodeElimination(Pass):
    name = "dce"
    summary = "erase ops whose results are never used (params included, so unused weights leave the file)"

    def apply(self, module: Module) -> bool:
        changed = False
        for func in module.funcs:
            rw = Rewriter(func)
            for op in reversed(func.ops):
                if all(not r.uses for r in op.results):
                    rw.erase_op(op)
            changed |= rw.commit()
        return changed
