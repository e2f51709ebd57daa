"""The one dtype table: every element type irc knows, with its name in each format.

Every frontend and backend reads this table instead of keeping its own map. The format facts
(safetensors' dtype strings, ONNX's TensorProto numbers, torch's attribute names) are the formats'
own; no framework is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .core import DTYPES

if TYPE_CHECKING:
    import numpy.typing as npt
    import torch


@dataclass(frozen=True)
class DType:
    name: str  # irc's name: "f32"
    itemsize: int
    numpy: object  # the NumPy dtype that holds it (bf16: its raw uint16 bits)
    safetensors: str  # "F32"
    torch: str  # the attribute of the torch module: "float32"
    onnx: int  # onnx.TensorProto.DataType number
    is_float: bool


TABLE: dict[str, DType] = {d.name: d for d in (
    DType("f16", 2, np.float16, "F16", "float16", 10, True),
    DType("bf16", 2, np.uint16, "BF16", "bfloat16", 16, True),
    DType("f32", 4, np.float32, "F32", "float32", 1, True),
    DType("f64", 8, np.float64, "F64", "float64", 11, True),
    DType("i1", 1, np.bool_, "BOOL", "bool", 9, False),
    DType("i8", 1, np.int8, "I8", "int8", 3, False),
    DType("i16", 2, np.int16, "I16", "int16", 5, False),
    DType("i32", 4, np.int32, "I32", "int32", 6, False),
    DType("i64", 8, np.int64, "I64", "int64", 7, False),
    DType("u8", 1, np.uint8, "U8", "uint8", 2, False),
)}
assert tuple(TABLE) == DTYPES

FLOAT_DTYPES = tuple(n for n, d in TABLE.items() if d.is_float)
ITEMSIZE = {n: d.itemsize for n, d in TABLE.items()}
IR_TO_NP = {n: d.numpy for n, d in TABLE.items()}
NP_TO_IR = {np.dtype(d.numpy).str: n for n, d in TABLE.items() if n != "bf16"}
IR_TO_ST = {n: d.safetensors for n, d in TABLE.items()}
ST_TO_IR = {d.safetensors: n for n, d in TABLE.items()}
IR_TO_ONNX = {n: d.onnx for n, d in TABLE.items()}
ONNX_TO_IR = {d.onnx: n for n, d in TABLE.items()}


def ir_dtype_of_numpy(array: npt.ArrayLike) -> str | None:
    """irc's element type for a NumPy array's dtype, or None when irc has none."""
    return NP_TO_IR.get(np.asarray(array).dtype.str)


def to_store_dtype(arr: npt.ArrayLike, dtype: str) -> np.ndarray:
    """`arr` as the NumPy array that holds irc's `dtype` (bf16: its raw bits, rounded to nearest even)."""
    if dtype == "bf16":
        f = np.ascontiguousarray(arr, dtype=np.float32).view(np.uint32)
        return ((f + 0x7FFF + ((f >> 16) & 1)) >> 16).astype(np.uint16)
    return np.ascontiguousarray(arr, dtype=IR_TO_NP[dtype])


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype object for an irc element type (imports torch)."""
    import torch

    return getattr(torch, TABLE[name].torch)


def from_torch(dtype: torch.dtype) -> str | None:
    """irc's element type for a torch dtype, or None."""
    text = str(dtype).removeprefix("torch.")
    return next((n for n, d in TABLE.items() if d.torch == text), None)
