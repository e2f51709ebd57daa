"""fuse-gelu: the erf and tanh GELU formulas, in the orders exporters write them, become nn.gelu.

0.5 * x * (1 + erf(x / sqrt(2))) becomes nn.gelu(x) (approximate "none"), and
0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))) becomes nn.gelu(x) {approximate = "tanh"}. The
constants may be nn.constant ops or one-element params in the module's weight store.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..ir import Module
from ..ir.rewriter import Rewriter
from ._match import erase_unused, near, only_use, other_operand, scalar_of
from .base import Pass


@dataclass
class FuseGelu(Pass):
    name = "fuse-gelu"
    summary = "0.5*x*(1+erf(x/sqrt(2))) and its tanh approximation, as exporters write GELU, become nn.gelu"

    def apply(self, module: Module) -> bool:
        changed = False
        for func in module.funcs:
            rw = Rewriter(func)
            for t in list(func.ops):
                if not rw.is_erased(t):
                    _fuse(module, rw, t)
            changed |= rw.commit()
        return changed


def _fuse(module, rw: Rewriter, t) -> None:
    """Fuse the GELU whose erf or tanh is `t`, if `t` is one."""
    if t.name == "nn.erf":
        x, approx = _erf_input(module, t), "none"
    elif t.name == "nn.tanh":
        x, approx = _tanh_input(module, t), "tanh"
    else:
        return
    if x is None:
        return
    add = _plus_one(module, t)
    final = _gelu_tail(module, add, x) if add is not None else None
    if final is None or final.result.type != x.type:
        return
    operands = list(final.operands)
    rw.rebuild(final, operands=[x], attrs={"approximate": approx} if approx == "tanh" else {}, name="nn.gelu")
    erase_unused(rw, operands)


def _erf_input(module, t):
    """x when erf `t` reads x / sqrt(2) or x * sqrt(1/2)."""
    d = t.operands[0].owner
    if d is None or d.name not in ("nn.div", "nn.mul") or not only_use(d.result):
        return None
    x, c = d.operands
    want = math.sqrt(2) if d.name == "nn.div" else 0.5 ** 0.5
    return x if near(scalar_of(module, c), want) else None


def _tanh_input(module, t):
    """x when tanh `t` reads sqrt(2/pi) * (x + 0.044715 * x^3)."""
    inner = t.operands[0].owner
    if inner is None or inner.name != "nn.mul" or not only_use(inner.results[0]):
        return None
    k = next((v for v in inner.operands if near(scalar_of(module, v), math.sqrt(2 / math.pi))), None)
    s = other_operand(inner, k) if k is not None else None
    if s is None or s.owner is None or s.owner.name != "nn.add" or not only_use(s):
        return None
    for x, cterm in (s.owner.operands, s.owner.operands[::-1]):
        co = cterm.owner
        if co is None or co.name != "nn.mul" or not only_use(cterm):
            continue
        cc = next((v for v in co.operands if near(scalar_of(module, v), 0.044715)), None)
        if cc is not None and _cube_of(module, other_operand(co, cc)) is x:
            return x
    return None


def _gelu_tail(module, add, x):
    """The op computing 0.5 * x * add, in the orders exporters write it (add = 1 + erf(...) or 1 + tanh(...))."""
    if add.name != "nn.add" or not only_use(add.result):
        return None
    m = add.result.uses[0]
    if m.name != "nn.mul":
        return None
    o = other_operand(m, add.result)
    if o is x or near(scalar_of(module, o), 0.5):  # (x * add) * 0.5  or  (add * 0.5) * x
        if not only_use(m.result):
            return None
        n = m.result.uses[0]
        if n.name != "nn.mul":
            return None
        last = other_operand(n, m.result)
        return n if (near(scalar_of(module, last), 0.5) if o is x else last is x) else None
    h = o.owner if o is not None else None  # (x * 0.5) * add
    if h is not None and h.name == "nn.mul" and only_use(o) and other_operand(h, x) is not None \
            and near(scalar_of(module, other_operand(h, x)), 0.5):
        return m
    return None


def _plus_one(module, t):
    """The add(t, 1) that uses t, or None."""
    if not only_use(t.result):
        return None
    add = t.result.uses[0]
    return add if add.name == "nn.add" and near(scalar_of(module, other_operand(add, t.result)), 1.0) else None


def _cube_of(module, v):
    """x when v is x * (x * x), (x * x) * x or x ** 3."""
    op = v.owner
    if op is None or not only_use(v):
        return None
    if op.name == "nn.pow" and near(scalar_of(module, op.operands[1]), 3.0):
        return op.operands[0]
    if op.name != "nn.mul":
        return None
    for x, sq in (op.operands, op.operands[::-1]):
        s = sq.owner
        if s is not None and s.name == "nn.mul" and only_use(sq) and s.operands[0] is x and s.operands[1] is x:
            return x
    return None
