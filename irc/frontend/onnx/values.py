"""What an ONNX value is while it is imported: an IR value, or something known at import time.

- `Const`: a tensor known at import time (an initializer, or a folded constant subgraph).
- `Shp`: a small int tensor (shape arithmetic) with some dynamic entries, each a `Sym`.
- `Sym`: a dynamic dimension (dim `dim` of an IR value); `Opaque`: a number computed from them.
- `Affine`: an int tensor known as an affine function of its indices over a dynamic range.
"""

from __future__ import annotations

import numpy as np

from ...ir import Value
from ...ir.core import sanitize_name as sanitize
from ...ir.dtypes import IR_TO_NP, ir_dtype_of_numpy
from ..core import Unsupported

NAME_SCOPES = "pkg.torch.onnx.name_scopes"  # the node metadata where torch's exporter records module paths


def value_name(onnx_name: str) -> str:
    """A readable IR name for an ONNX value: `/layer1/Constant_3_output_0` -> `layer1.Constant_3`."""
    n = str(onnx_name)
    if n.startswith("/"):
        n = n.strip("/").replace("/", ".")
        n = n.removesuffix("_output_0")
    return sanitize(n)


def nice_float(value: float) -> float:
    """The double a float32 attribute most likely was: a small fraction (1/6 for PyTorch's hardsigmoid) when
    one rounds to the same float32, else the shortest decimal that does (0.1, 1e-05, ...)."""
    v = float(value)
    f = np.float32(v)
    if not np.isfinite(f) or f == 0:
        return v
    for d in range(1, 17):
        n = round(v * d)
        if n != 0 and abs(n) <= 64 * d and np.float32(n / d) == f:
            return n / d
    short = float(np.format_float_positional(f, unique=True)) if abs(v) >= 1e-4 else float(
        np.format_float_scientific(f, unique=True))
    return short if np.float32(short) == f else v


def ir_dtype(arr: np.ndarray) -> str:
    """irc's element type of a NumPy array (Unsupported when irc has none)."""
    dtype = ir_dtype_of_numpy(arr)
    if dtype is None:
        raise Unsupported(f"tensor of dtype {arr.dtype} has no irc element type")
    return dtype


def scalar_array(value: float, dtype: str) -> np.ndarray:
    """A 0-d NumPy array holding `value` in irc element type `dtype` (bf16 has no NumPy type to compute in)."""
    if dtype == "bf16":
        raise Unsupported("a bf16 scalar constant (NumPy has no bf16 type)")
    return np.asarray(value, dtype=IR_TO_NP[dtype])


class Const:
    """A tensor known at import time; `init` is the initializer name it came from, if any."""

    __slots__ = ("array", "bf16", "init")

    def __init__(self, array, init=None, bf16=False):
        self.array = np.asarray(array)
        self.init = init
        self.bf16 = bf16


class Sym:
    """A dynamic dimension: dim `dim` of IR value `value` (inferred symbol `param`)."""

    __slots__ = ("dim", "param", "value")

    def __init__(self, value, dim, param):
        self.value, self.dim, self.param = value, dim, param

    def same(self, other: object) -> bool:
        if not isinstance(other, Sym):
            return False
        if self.value is other.value and self.dim == other.dim:
            return True
        return self.param is not None and self.param == other.param

    def _op(self, other):
        return Opaque()

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __floordiv__ = __rfloordiv__ = _op
    __truediv__ = __rtruediv__ = __mod__ = _op


class Opaque(Sym):
    """A dynamic number computed from dynamic dims (known only at run time)."""

    def __init__(self):
        super().__init__(None, None, None)

    def same(self, other: object) -> bool:
        return False


class Shp:
    """A small int tensor (shape arithmetic) with some dynamic entries: a NumPy object array."""

    __slots__ = ("array",)

    def __init__(self, array):
        self.array = np.asarray(array, dtype=object)


class Affine:
    """An int tensor known as offset + sum_j coefs[j] * i_j over its indices, with some dynamic sizes: the
    index arithmetic the default exporter writes for as_strided on a dynamic batch (Range(0, N) * 32 + ...)."""

    __slots__ = ("coefs", "offset", "shape")

    def __init__(self, shape, offset, coefs):
        self.shape, self.offset, self.coefs = list(shape), int(offset), [int(c) for c in coefs]


def shp_or_const(arr: np.ndarray | list) -> Shp | Const:
    """A Shp when any entry is dynamic, else the int64 Const."""
    arr = np.asarray(arr, dtype=object)
    if any(isinstance(v, Sym) for v in arr.ravel()):
        return Shp(arr)
    return Const(np.asarray(arr.tolist(), dtype=np.int64).reshape(arr.shape))


def own_sym(x: Value, dim: int, dims: list) -> Sym:
    """Dim `dim` of IR value `x` as a Sym, with the symbol ONNX shape inference gave it (`dims`), if any."""
    return Sym(x, dim, dims[dim] if dim < len(dims) and isinstance(dims[dim], str) else None)


# what an ONNX value is bound to during the import
ImportValue = Value | Const | Shp | Affine

__all__ = ["NAME_SCOPES", "Affine", "Const", "ImportValue", "Opaque", "Shp", "Sym", "ir_dtype",
           "nice_float", "own_sym", "sanitize", "scalar_array", "shp_or_const", "value_name"]
