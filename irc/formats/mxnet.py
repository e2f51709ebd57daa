"""MXNet's files without MXNet: the `.params` NDArray list and the attribute strings of `-symbol.json`.

The `.params` file (`mx.nd.save`) is little-endian:

    u64 0x112 (the list magic), u64 0 (reserved), u64 count, then `count` arrays, then
    u64 count, and per name u64 length + UTF-8 bytes ("arg:conv0_weight", "aux:bn0_moving_mean")

and each array (NDArray::Save, dense storage) is

    u32 magic: 0xF993FAC9 (V2) or 0xF993FACA (V3, NumPy shape semantics)
    i32 storage type (0: dense; row_sparse and csr are refused)
    i32 ndim, i64 dims[ndim]          (-1: no array, the record ends; 0: one value, as MXNet 1.9 writes it)
    i32 dev_type, i32 dev_id          (the context it was saved from; 1, 0 is the CPU)
    i32 type flag                     (TYPE_FLAGS), then the raw data, C order

V1 files (magic 0xF993FAC8) have no storage type; files older than that start with the shape (u32 ndim,
u32 dims) and are read too. Attribute values in the symbol JSON are strings: tuples "(3, 3)", booleans
"True"/"False", numbers as Python prints them (`attr_text`, `parse_ints`, `parse_bool`, `parse_float`).
"""

from __future__ import annotations

import ast
import struct
from collections.abc import Sequence

import numpy as np

from ..ir import IrcError
from ..ir.dtypes import TABLE, ir_dtype_of_numpy

LIST_MAGIC = 0x112
V1_MAGIC, V2_MAGIC, V3_MAGIC = 0xF993FAC8, 0xF993FAC9, 0xF993FACA
CPU = 1
# MXNet's type flag -> IR dtype name (mshadow's kFloat32 = 0, ...)
TYPE_FLAGS = {0: "f32", 1: "f64", 2: "f16", 3: "u8", 4: "i32", 5: "i8", 6: "i64", 7: "i1", 12: "bf16"}
FLAG_OF = {name: flag for flag, name in TYPE_FLAGS.items()}


class _Reader:
    def __init__(self, data: bytes, where: str):
        self.data, self.pos, self.where = data, 0, where

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise IrcError(f"{self.where}: truncated at byte {self.pos} (not an MXNet .params file?)")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def raw(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise IrcError(f"{self.where}: truncated at byte {self.pos} (an array needs {size} bytes)")
        chunk = self.data[self.pos:self.pos + size]
        self.pos += size
        return chunk


def _read_array(reader: _Reader) -> np.ndarray:
    (magic,) = reader.take("<I")
    if magic not in (V1_MAGIC, V2_MAGIC, V3_MAGIC):  # the oldest form: the shape first, u32 dims
        dims = reader.take(f"<{magic}I")
        shape = tuple(int(d) for d in dims)
    else:
        if magic != V1_MAGIC:
            (storage,) = reader.take("<i")
            if storage != 0:
                raise IrcError(f"{reader.where}: a sparse array (storage type {storage}); only dense arrays are read")
        (ndim,) = reader.take("<i")
        shape = tuple(int(d) for d in reader.take(f"<{max(ndim, 0)}q"))
        if ndim < 0:  # an unknown shape: nothing follows
            return np.zeros((0,), np.float32)
    reader.take("<ii")  # the context it was saved from
    (flag,) = reader.take("<i")
    if flag not in TYPE_FLAGS:
        raise IrcError(f"{reader.where}: unknown MXNet type flag {flag}")
    dtype = np.dtype(TABLE[TYPE_FLAGS[flag]].numpy)
    count = int(np.prod(shape)) if shape else 1
    return np.frombuffer(reader.raw(count * dtype.itemsize), dtype).reshape(shape).copy()


def decode_params(data: bytes, where: str = "params") -> dict[str, np.ndarray]:
    """{name: array} of an NDArray list (names as written: "arg:NAME" / "aux:NAME")."""
    reader = _Reader(data, where)
    magic, _ = reader.take("<QQ")
    if magic != LIST_MAGIC:
        raise IrcError(f"{where}: not an MXNet .params file (magic {magic:#x}, want {LIST_MAGIC:#x})")
    (count,) = reader.take("<Q")
    arrays = [_read_array(reader) for _ in range(count)]
    (named,) = reader.take("<Q")
    names = []
    for _ in range(named):
        (length,) = reader.take("<Q")
        names.append(reader.raw(length).decode("utf-8", "replace"))
    if named == 0:
        names = [str(i) for i in range(count)]
    if len(names) != count:
        raise IrcError(f"{where}: {count} arrays but {len(names)} names")
    return dict(zip(names, arrays, strict=True))


def load_params(path: str) -> dict[str, np.ndarray]:
    """{name: array} of the .params file at `path`."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise IrcError(f"cannot read {path}: {e.strerror or e}") from None
    return decode_params(data, path)


def _array_bytes(arr: np.ndarray) -> bytes:
    name = ir_dtype_of_numpy(arr)
    if name not in FLAG_OF:
        raise IrcError(f"an array of dtype {arr.dtype} has no MXNet type flag")
    head = struct.pack(f"<Iii{arr.ndim}q", V2_MAGIC, 0, arr.ndim, *arr.shape)
    return head + struct.pack("<iii", CPU, 0, FLAG_OF[name]) + np.ascontiguousarray(arr).tobytes()


def encode_params(arrays: dict[str, np.ndarray]) -> bytes:
    """The bytes of `mx.nd.save(path, arrays)` (V2 dense arrays; a 0-d array is saved as shape (1,), as
    MXNet 1.x does)."""
    parts = [struct.pack("<QQQ", LIST_MAGIC, 0, len(arrays))]
    for arr in arrays.values():
        arr = np.asarray(arr)
        parts.append(_array_bytes(arr.reshape(1) if arr.ndim == 0 else arr))
    parts.append(struct.pack("<Q", len(arrays)))
    for name in arrays:
        raw = name.encode("utf-8")
        parts.append(struct.pack("<Q", len(raw)) + raw)
    return b"".join(parts)


def pooled_size(size: int, kernel: int, stride: int, pad: int, full: bool) -> int:
    """MXNet's pooled size of one dim: pooling_convention "valid" rounds down, "full" rounds up (with no
    rule keeping the last window inside the padded input)."""
    span = size + 2 * pad - kernel
    return (-(-span // stride) if full else span // stride) + 1


# ----------------------------------------------------------------------------- attribute strings


def attr_text(value: object) -> str:
    """An attribute value as MXNet writes it: (3, 3), True, 0.001, relu."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join("None" if v is None else attr_text(v) for v in value) + \
            ("," if len(value) == 1 else "") + ")"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def parse_value(text: str) -> object:
    """A Python literal of an attribute string ("(3, 3)", "1e-05", "True"); the text itself when it is none."""
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return text


def parse_ints(text: str | None, default: Sequence[int] | None = None) -> list | None:
    """A tuple attribute ("(3, 3)", "[1, 2]", "3") as a list (None entries kept); `default` when absent."""
    if text is None:
        return None if default is None else list(default)
    value = parse_value(text)
    if isinstance(value, (list, tuple)):
        return [None if v is None else int(v) for v in value]
    if isinstance(value, (int, float)):
        return [int(value)]
    raise IrcError(f"'{text}' is not a tuple of integers")


def parse_bool(text: str | None, default: bool = False) -> bool:
    if text is None:
        return default
    return text.strip().lower() in ("true", "1")


def parse_float(text: str | None, default: float) -> float:
    if text is None:
        return default
    try:
        return float(text)
    except ValueError:
        raise IrcError(f"'{text}' is not a number") from None


__all__ = ["FLAG_OF", "TYPE_FLAGS", "attr_text", "decode_params", "encode_params", "load_params", "parse_bool",
           "parse_float", "parse_ints", "parse_value", "pooled_size"]
