"""`dense<...> : tensor<...>` literals: what makes one valid, checked once for the parser and the verifier.

A literal is a splat (one scalar, never materialised to check it) or nested lists whose shape is the
type's shape exactly; every element is of the dtype's kind (numbers for floats, integers for integer
types, true/false for i1) and fits the dtype's range.
"""

from __future__ import annotations

import math

import numpy as np

from .core import DenseAttr

INT_RANGE = {"i8": (-2**7, 2**7 - 1), "i16": (-2**15, 2**15 - 1), "i32": (-2**31, 2**31 - 1),
             "i64": (-2**63, 2**63 - 1), "u8": (0, 255)}
FLOAT_MAX = {"f16": 65504.0, "bf16": 3.3895313892515355e38, "f32": 3.4028234663852886e38,
             "f64": 1.7976931348623157e308}


def element_problem(v: object, dtype: str) -> str | None:
    """Why `v` cannot be an element of a `dtype` tensor, or None."""
    if dtype == "i1":
        return None if isinstance(v, bool) else f"{_show(v)} is not true or false"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return f"{_show(v)} is not a number"
    if dtype in INT_RANGE:
        lo, hi = INT_RANGE[dtype]
        if not isinstance(v, int):
            return f"{_show(v)} is not an integer"
        return None if lo <= v <= hi else f"{v} is out of range for {dtype} [{lo}, {hi}]"
    if math.isfinite(v) and abs(v) > FLOAT_MAX[dtype]:
        return f"{_show(v)} does not fit {dtype} (largest finite value {FLOAT_MAX[dtype]:g})"
    return None


def _show(v) -> str:
    text = repr(v) if not isinstance(v, str) else '"' + v[:40] + '"'
    return text[:60]


def _first_path_shape(values) -> tuple:
    shape = []
    while isinstance(values, list):
        shape.append(len(values))
        values = values[0] if values else None
    return tuple(shape)


def check_dense(dense: DenseAttr) -> str | None:
    """Why the literal does not fit its type, or None."""
    shape, dtype = dense.type.shape, dense.type.dtype
    values = dense.values
    if not isinstance(values, list):
        if any(d is None for d in shape):
            return f"dense literal type {dense.type} must be static"
        problem = element_problem(values, dtype)
        return f"dense literal: {problem}" if problem else None
    got = _first_path_shape(values)
    if got != shape:
        return f"dense literal has shape {list(got)} but its type is {dense.type}"
    # every other path must have the same lengths (no ragged lists): level by level, no recursion
    level = [values]
    for axis, size in enumerate(shape):
        nxt = []
        for item in level:
            if not isinstance(item, list) or len(item) != size:
                found = f"{len(item)} entries" if isinstance(item, list) else "a scalar"
                return f"dense literal is ragged: an entry of axis {axis} has {found}, expected {size}"
            nxt.extend(item)
        level = nxt
    for v in level:
        if isinstance(v, list):
            return f"dense literal is ragged: it nests deeper than the rank of {dense.type} in places"
        problem = element_problem(v, dtype)
        if problem:
            return f"dense literal: {problem}"
    return None


def dense_values(dense: DenseAttr, dtype: object = None) -> np.ndarray:
    """A dense literal's values as a new NumPy array of its shape (a splat filled out), in `dtype` (default: its
    own element type; bf16 as float32)."""
    from .dtypes import IR_TO_NP

    own = np.float32 if dense.type.dtype == "bf16" else IR_TO_NP[dense.type.dtype]
    values = np.asarray(dense.values, dtype=own)
    out = np.broadcast_to(values, dense.type.shape) if values.ndim == 0 else values.reshape(dense.type.shape)
    return np.array(out, dtype=dtype or own)


def weight_values(module: object, value: object, dtype: object = np.float32) -> np.ndarray | None:
    """The values of an nn.param or nn.constant operand (from `module`'s weight store, or its dense literal) in
    `dtype`; None for any other value."""
    owner = value.owner
    if owner is None or owner.name not in ("nn.param", "nn.constant"):
        return None
    if owner.name == "nn.param":
        return np.asarray(module.weights.numpy(owner.attrs["key"]), dtype=dtype)
    return dense_values(owner.attrs["value"], dtype)
