"""fuse-silu: x * sigmoid(x), as both torch exporters write SiLU, becomes nn.silu."""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Module
from ..ir.rewriter import Rewriter
from .base import Pass


@dataclass
class FuseSilu(Pass):
    name = "fuse-silu"
    summary = "x * sigmoid(x) becomes nn.silu(x) when the sigmoid has no other use"

    def apply(self, module: Module) -> bool:
        changed = False
        for func in module.funcs:
            rw = Rewriter(func)
            for op in list(func.ops):
                if op.name == "nn.mul" and not rw.is_erased(op):
                    _fuse(rw, op)
            changed |= rw.commit()
        return changed


def _fuse(rw: Rewriter, mul) -> None:
    a, b = mul.operands
    for x, s in ((a, b), (b, a)):
        sig = s.owner
        if sig is not None and sig.name == "nn.sigmoid" and sig.operands[0] is x and len(s.uses) == 1 \
                and x.type == mul.results[0].type:
            rw.rebuild(mul, operands=[x], attrs={}, name="nn.silu")
            rw.erase_op(sig)
            return
