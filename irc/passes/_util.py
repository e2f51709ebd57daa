"""Helpers the numeric passes share: reading constants, making new params/constants, evaluating an op.

NumPy only at import time; `evaluate` imports torch (and the executor's op → torch table) lazily.
"""

from __future__ import annotations

import numpy as np

from ..ir.core import DenseAttr, Module, Op, TensorType, Value
from ..ir.dtypes import IR_TO_NP, to_store_dtype, torch_dtype
from ..ir.ops import OPS
from ..ir.ops.registry import normalize_attrs

INLINE_MAX = 16  # a new constant with at most this many elements is written inline as nn.constant
MATERIALIZE_MAX = 1 << 22  # elements: no pass computes with a constant tensor larger than this (16 MB of f32)


def attrs_of(op: Op) -> dict:
    """The op's attributes with defaults filled in (what the verifier and the torch table see)."""
    opdef = OPS.get(op.name)
    return normalize_attrs(opdef, op.attrs) if opdef is not None else dict(op.attrs)


SOURCES = ("nn.param", "nn.constant")  # the ops that hold a value known at compile time


def is_const(v: Value) -> bool:
    """Whether `v` is a param or a constant."""
    return v.owner is not None and v.owner.name in SOURCES


def const_array(module: Module | None, v: Value) -> np.ndarray | None:
    """The value of a param or constant as a NumPy array (bf16 as float32), or None."""
    op = v.owner
    if op is None:
        return None
    if op.name == "nn.param":
        store = module.weights
        key = op.attrs["key"]
        if store is None or not store.has(key):
            return None
        arr = store.numpy(key)
        if store.type_of(key).dtype == "bf16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        return arr
    if op.name == "nn.constant":
        return dense_array(op.attrs["value"])
    return None


def dense_array(dense: DenseAttr) -> np.ndarray | None:
    """A dense literal's value as a NumPy array (bf16 as float32); a splat is a read-only broadcast view of
    its one value (never materialised), and None when even that would pass MATERIALIZE_MAX elements."""
    dt = np.float32 if dense.type.dtype == "bf16" else IR_TO_NP[dense.type.dtype]
    if dense.is_splat:
        if (dense.type.numel() or 0) > MATERIALIZE_MAX:
            return None
        return np.broadcast_to(np.asarray(dense.values, dtype=dt), dense.type.shape)
    return np.asarray(dense.values, dtype=dt).reshape(dense.type.shape)


def _pylist(arr: np.ndarray, dtype: str):
    if dtype == "i1":
        return arr.astype(bool).tolist()
    if dtype.startswith(("f", "bf")):
        return arr.astype(np.float64).tolist()
    return arr.astype(np.int64).tolist()


def dense_of(arr: np.ndarray, dtype: str) -> DenseAttr:
    ty = TensorType(tuple(arr.shape), dtype)
    if dtype != "bf16":
        arr = np.asarray(arr, dtype=IR_TO_NP[dtype])
    flat = arr.reshape(-1)
    if flat.size > 1 and np.all(flat == flat[0]) and not np.isnan(flat[0] if dtype.startswith(("f", "bf")) else 0):
        return DenseAttr(_pylist(flat[:1], dtype)[0], ty)
    return DenseAttr(_pylist(arr, dtype), ty)


class Consts:
    """Makes new params and constants for one function, and replaces param tensors in place.

    Key policy (see the passes' docs): a param whose key is read by exactly one `nn.param` op and whose
    value has exactly one use may have its tensor replaced under the same key, so the written weight
    file keeps the source's key names; otherwise a fresh key is taken.
    """

    def __init__(self, module: Module, rw):
        self.module = module
        self.rw = rw
        self.stale = []  # param ops whose key now holds a different tensor: erase them at the end
        self._readers = None

    def key_count(self, key: str) -> int:
        """How many nn.param ops of the module read `key` (counted once per pass; new params add to it)."""
        if self._readers is None:
            from collections import Counter

            self._readers = Counter(op.attrs["key"] for op in self.module.ops() if op.name == "nn.param")
        return self._readers[key]

    def new(self, anchor: Op, arr: np.ndarray, dtype: str, name: str, key: str | None = None, loc=None,
            inline: bool = True) -> Value:
        """A value holding `arr`: an inline nn.constant when small, else a new param (fresh key from `key`)."""
        arr = np.asarray(arr)
        if inline and arr.size <= INLINE_MAX:
            dense = dense_of(arr, dtype)
            op = self.rw.create("nn.constant", [], {"value": dense}, [dense.type], [name], loc)
        else:
            store = self.module.weights
            if store is None:
                from ..ir.weights import WeightStore

                store = self.module.weights = WeightStore(None)
            k = store.fresh_key(key or name)
            store.add(k, to_store_dtype(arr, dtype), dtype)
            if self._readers is not None:
                self._readers[k] += 1
            op = self.rw.create("nn.param", [], {"key": k}, [TensorType(tuple(arr.shape), dtype)], [name], loc)
        self.rw.insert_before(anchor, op)
        return op.result

    def replace(self, anchor: Op, v: Value, arr: np.ndarray, keep_key: bool = True) -> Value:
        """A param value like `v` (a param) but holding `arr`: reuses v's key when only v reads it."""
        op = v.owner
        key = op.attrs["key"]
        dtype = v.type.dtype
        arr = np.asarray(arr)
        if keep_key and len(v.uses) == 1 and self.key_count(key) == 1 and key not in self._replaced_keys():
            self.module.weights.add(key, to_store_dtype(arr, dtype), dtype)
            if tuple(arr.shape) == v.type.shape:
                return v
            new = self.rw.create("nn.param", [], {"key": key}, [TensorType(tuple(arr.shape), dtype)], [v.name], op.loc)
            self.rw.adopt_names(new, op)
            self.rw.insert_before(anchor, new)
            self.stale.append(op)
            return new.result
        return self.new(anchor, arr, dtype, v.name, key, op.loc, inline=False)

    def _replaced_keys(self):
        return {op.attrs["key"] for op in self.stale}

    def finish(self) -> None:
        """Erase param ops whose key was given a new tensor (their users must be gone by now)."""
        for op in self.stale:
            if not self.rw.is_erased(op):
                for r in op.results:
                    if r.uses:
                        raise AssertionError(f"stale param %{r.name} still used")
                self.rw.erase_op(op)
        self.stale = []


def evaluate(op: Op, arrays: list) -> list:
    """Run one op on NumPy inputs with the executor's torch mapping; returns NumPy arrays (bf16 → f32)."""
    import torch

    from ..backend.pytorch.executor import Ctx, expression, helper_source

    tensors = []
    for v, a in zip(op.operands, arrays, strict=False):
        t = torch.from_numpy(np.array(a))
        if v.type.dtype == "bf16":
            t = t.to(torch.bfloat16)
        tensors.append(t)
    names = [f"a{i}" for i in range(len(tensors))]
    ctx = Ctx(names)
    saved = op.attrs
    op.attrs = attrs_of(op)
    try:
        expr = expression(ctx, op)
    finally:
        op.attrs = saved
    ns = {"torch": torch, "F": torch.nn.functional}
    src = helper_source(ctx.helpers) + f"\n\ndef _f({', '.join(names)}):\n    return {expr}\n"
    exec(compile(src, "<irc fold>", "exec"), ns)
    with torch.no_grad():
        out = ns["_f"](*tensors)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    res = []
    for r, t in zip(op.results, outs, strict=False):
        t = t.to(torch_dtype(r.type.dtype))
        if r.type.dtype == "bf16":
            t = t.float()
        res.append(t.contiguous().numpy())
    return res
