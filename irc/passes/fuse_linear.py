"""fuse-linear: matmul(x, W) + b with W and b private params becomes nn.linear.

This is how exporters write nn.Linear on inputs of rank 3 and more. W, [in, out], is stored transposed
in the module's weight store, [out, in] as PyTorch keeps it, under the bias key with `.weight` for
`.bias` when that is free (`mlp.0.bias` -> `mlp.0.weight`); matmul(x, transpose(P)) with P a param
already [out, in] (irc's own ONNX files write linear so) reads P itself. The fused op keeps the
matmul's name unless that is one of irc's helper names (with `__`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import Module
from ..ir.rewriter import Rewriter
from ._match import erase_unused, only_use, other_operand
from .base import Pass


@dataclass
class FuseLinear(Pass):
    name = "fuse-linear"
    summary = "matmul(x, W) + b with private params W, b becomes nn.linear (W stored transposed, [out, in])"

    def apply(self, module: Module) -> bool:
        changed = False
        for func in module.funcs:
            rw = Rewriter(func)
            for mm in list(func.ops):
                if mm.name == "nn.matmul" and only_use(mm.result):
                    _fuse(module, rw, mm)
            changed |= rw.commit()
        return changed


def _weight(w):
    """('param', P) when matmul weight `w` is a private param, ('transposed', P) when it is a private
    transpose([1, 0]) of param P, else None."""
    wop = w.owner
    if wop is None or not only_use(w):
        return None
    if wop.name == "nn.transpose" and wop.attrs["perm"] == [1, 0] and wop.operands[0].owner is not None \
            and wop.operands[0].owner.name == "nn.param":
        return "transposed", wop.operands[0]
    if wop.name == "nn.param":
        return "param", w
    return None


def _bias(mm, w):
    """The add of mm's result and a param of shape [out] keeping mm's type, and that param; else None."""
    add = mm.result.uses[0]
    if add.name != "nn.add":
        return None
    b = other_operand(add, mm.result)
    bop = b.owner if b is not None else None
    if bop is None or bop.name != "nn.param" or b.type.shape != (w.type.shape[1],) \
            or add.result.type != mm.result.type:
        return None
    return add, b


def _transposed_param(module, rw: Rewriter, mm, w, b):
    """A new param holding W^T, keyed after the bias (`.bias` -> `.weight`) or W's key + `_t`."""
    store = module.weights
    wkey, bkey = w.owner.attrs["key"], b.owner.attrs["key"]
    if store is None or not store.has(wkey):
        return None
    cand = bkey[: -len(".bias")] + ".weight" if bkey.endswith(".bias") else wkey + "_t"
    key = store.fresh_key(cand)
    store.add(key, np.ascontiguousarray(store.numpy(wkey).T), w.type.dtype)
    wt = rw.create("nn.param", [], {"key": key}, [w.type.with_shape(w.type.shape[::-1])], [key])
    rw.insert_before(mm, wt)
    return wt.result


def _fuse(module, rw: Rewriter, mm) -> None:
    x, w = mm.operands
    found = _weight(w)
    if found is None or w.type.rank != 2 or x.type.rank < 2:
        return
    bias = _bias(mm, w)
    if bias is None:
        return
    add, b = bias
    form, weight = found
    if form == "param":
        weight = _transposed_param(module, rw, mm, w, b)
        if weight is None:
            return
    lin = rw.rebuild(add, operands=[x, weight, b], attrs={}, name="nn.linear")
    rw.erase_op(mm)
    if "__" not in mm.result.name:  # the matmul's (the module's) name, unless it is irc's own helper name
        rw.adopt_names(lin, mm)
    erase_unused(rw, [w])
