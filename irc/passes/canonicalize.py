"""canonicalize: local simplifications that never change numbers, repeated until nothing applies.

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

from ..ir.ops import ShapeError
from ..ir.ops.shape import infer_reshape
from ..ir.rewriter import Rewriter
from ._util import attrs_of, const_array, is_const
from .base import Pass

RESHAPE_LIKE = ("nn.reshape", "nn.flatten", "nn.squeeze", "nn.unsqueeze")
BIG = 2**31 - 1  # a slice end at least this large means "to the end" (ONNX writes INT32_MAX or INT64_MAX)


def passthrough(op) -> dict:
    """{result dim: input dim} for the dims a reshape-like op carries over unchanged."""
    x, r = op.operands[0].type, op.result.type
    a = attrs_of(op)
    if op.name == "nn.reshape":
        return {i: i for i, d in enumerate(a["shape"]) if d == 0}
    if op.name == "nn.flatten":
        if x.rank == 0:
            return {}
        s, e = a["start_axis"] % x.rank, a["end_axis"] % x.rank
        m = {i: i for i in range(s)}
        m.update({i: i + (e - s) for i in range(s + 1, r.rank)})
        if s == e:
            m[s] = s
        return m
    if op.name == "nn.squeeze":
        axes = {ax % x.rank for ax in a["axes"]}
        kept = [i for i in range(x.rank) if i not in axes]
        return dict(enumerate(kept))
    if op.name == "nn.unsqueeze":
        axes = {ax % r.rank for ax in a["axes"]}
        new = [i for i in range(r.rank) if i not in axes]
        return {o: i for i, o in enumerate(new)}
    return {}


def reshape_target(x, r, carried: dict):
    """A `shape` attribute turning type x into type r, or None. carried: {r dim: x dim} known equal."""
    target, minus = [], 0
    for i, d in enumerate(r.shape):
        if d is not None:
            target.append(d)
        elif carried.get(i) == i and i < x.rank:
            target.append(0)
        else:
            target.append(-1)
            minus += 1
    if minus > 1:
        return None
    if minus == 1 and x.is_static:
        return None  # cannot happen for a consistent type, but stay safe
    try:
        if infer_reshape([x], {"shape": target}) != r:
            return None
    except ShapeError:
        return None
    return target


def _is_identity_reshape(op) -> bool:
    x, r = op.operands[0].type, op.result.type
    if x != r:
        return False
    carried = passthrough(op)
    dyn = [i for i, d in enumerate(r.shape) if d is None]
    # equal types: the one dim not known to be carried over must match too, by element count
    return sum(1 for i in dyn if carried.get(i) != i) <= 1


def _all_equal(module, v, value) -> bool:
    if not is_const(v):
        return False
    arr = const_array(module, v)
    return arr is not None and arr.size > 0 and bool(np.all(arr == value))


@dataclass
class Canonicalize(Pass):
    name = "canonicalize"
    summary = ("remove dropout/identity, merge transposes and reshapes, drop no-op pads/slices/reshapes/"
               "transposes/casts, fold x*1 and x+0")

    def apply(self, module) -> bool:
        changed = False
        for func in module.funcs:
            for _ in range(100):
                rw = Rewriter(func)
                for op in list(func.ops):
                    if not rw.is_erased(op):
                        self._rewrite(module, rw, op)
                if not rw.commit():
                    break
                changed = True
        return changed

    def _forward(self, rw, op, value):
        """Replace op by an existing value and erase the producers this leaves unused."""
        producers = [v.owner for v in op.operands if v.owner is not None]
        rw.replace_op(op, [value])
        self._erase_dead(rw, producers)

    def _erase_dead(self, rw, ops):
        for p in ops:
            if not rw.is_erased(p) and all(not r.uses for r in p.results):
                more = [v.owner for v in p.operands if v.owner is not None]
                rw.erase_op(p)
                self._erase_dead(rw, more)

    def _rebuild(self, rw, op, operands, attrs, name=None):
        producers = [v.owner for v in op.operands if v.owner is not None]
        new = rw.rebuild(op, operands=operands, attrs=attrs, name=name)
        self._erase_dead(rw, producers)
        return new

    def _rewrite(self, module, rw, op):
        name = op.name
        if len(op.results) == 1 and op.operands and op.result.type is None:
            return
        x = op.operands[0] if op.operands else None
        if name in ("nn.dropout", "nn.identity"):
            return self._forward(rw, op, x)
        a = attrs_of(op)
        if name == "nn.transpose":
            perm = a["perm"]
            if perm == list(range(len(perm))):
                return self._forward(rw, op, x)
            inner = x.owner
            if inner is not None and inner.name == "nn.transpose" and not rw.is_erased(inner):
                p1 = attrs_of(inner)["perm"]
                composed = [p1[p] for p in perm]
                if composed == list(range(len(composed))):
                    return self._forward(rw, op, inner.operands[0])
                return self._rebuild(rw, op, [inner.operands[0]], {"perm": composed})
            return
        if name in RESHAPE_LIKE:
            if _is_identity_reshape(op):
                return self._forward(rw, op, x)
            inner = x.owner
            if inner is not None and inner.name in RESHAPE_LIKE and not rw.is_erased(inner):
                outer_map, inner_map = passthrough(op), passthrough(inner)
                carried = {o: inner_map[m] for o, m in outer_map.items() if m in inner_map}
                src = inner.operands[0]
                target = reshape_target(src.type, op.result.type, carried)
                if target is not None:
                    return self._rebuild(rw, op, [src], {"shape": target}, "nn.reshape")
            return
        if name == "nn.expand":
            shape = a["shape"]
            if x.type == op.result.type and len(shape) == x.type.rank and \
                    all(t == -1 or t == d for t, d in zip(shape, x.type.shape)):
                return self._forward(rw, op, x)
            return
        if name == "nn.cast":
            if a["dtype"] == x.type.dtype:
                return self._forward(rw, op, x)
            return
        if name == "nn.pad":
            if all(b == 0 and e == 0 for b, e in a["pads"]):
                return self._forward(rw, op, x)
            return
        if name == "nn.slice":
            if x.type == op.result.type and self._full_slice(x.type, a):
                return self._forward(rw, op, x)
            return
        if name == "nn.concat" and len(op.operands) == 1:
            return self._forward(rw, op, x)
        if name == "nn.split" and len(op.results) == 1:
            return self._forward(rw, op, x)
        if name in ("nn.mul", "nn.add", "nn.sub", "nn.div", "nn.pow"):
            lhs, rhs = op.operands
            neutral = 1 if name in ("nn.mul", "nn.div", "nn.pow") else 0
            if lhs.type == op.result.type and _all_equal(module, rhs, neutral):
                return self._forward(rw, op, lhs)
            if name in ("nn.mul", "nn.add") and rhs.type == op.result.type and _all_equal(module, lhs, neutral):
                return self._forward(rw, op, rhs)

    @staticmethod
    def _full_slice(t, a) -> bool:
        steps = a.get("steps") or [1] * len(a["axes"])
        for ax, s, e, st in zip(a["axes"], a["starts"], a["ends"], steps):
            n = t.shape[ax % t.rank]
            if st != 1:
                return False
            if n is None:
                if s != 0 or e < BIG:
                    return False
            elif not ((s == 0 or s <= -n) and e >= n):
                return False
        return True
