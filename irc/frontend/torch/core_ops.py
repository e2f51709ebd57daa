"""Pass-through and bookkeeping ATen ops (clones, dropout in eval, getitem, asserts), and casts → nn.cast."""

from __future__ import annotations

import operator

import torch

from ..core import POISON, Poisoned, Unsupported
from .importer import SYMBOLIC, imports

aten = torch.ops.aten


@imports(aten.clone.default, aten.contiguous.default, aten.alias.default, aten.detach.default,
         aten.lift_fresh_copy.default, aten.lift_fresh.default)
def _identity(importer, node, x, *rest, **kwargs):
    return importer.operand(x)


@imports(aten.dropout.default, aten.feature_dropout.default, aten.alpha_dropout.default)
def _dropout(importer, node, x, p=0.5, train=False):
    """Identity at inference; a dropout forced on (`F.dropout(x, training=True)`, Monte-Carlo dropout) is random
    at inference too, which irc cannot reproduce: refused rather than silently dropped."""
    if train and p:
        raise Unsupported(f"dropout with training=True (p={p}): random at inference, not converted")
    return importer.operand(x)


@imports(operator.getitem)
def _getitem(importer, node, src, index):
    v = importer.env.get(src)
    if v is POISON:
        raise Poisoned()
    if isinstance(v, (list, tuple)):
        r = v[index]
        if r is None:
            raise Unsupported(f"result {index} of {src.name} is not computed by irc")
        return r
    raise Unsupported(f"cannot index {src.name}")


@imports(aten._assert_tensor_metadata.default, aten._assert_scalar.default, aten.sym_constrain_range_for_size.default,
         aten._assert_async.msg)
def _assert(importer, node, *args, **kwargs):
    return SYMBOLIC


@imports(aten._to_copy.default, aten.to.dtype)
def _to_copy(importer, node, x, *args, **kwargs):
    v = importer.operand(x)
    want = importer.out_type().dtype
    return v if v.type.dtype == want else importer.result("cast", [v], {"dtype": want})
