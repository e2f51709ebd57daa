"""The weight store: `nn.param` tensors in a safetensors file, read lazily.

Opening a store reads only the file's JSON header (names, dtypes, shapes). Tensor bytes are
memory-mapped on first use. Passes add new tensors in memory; `save` writes exactly the keys the
module still uses into a temporary file and renames it into place, never over the file it reads.
No torch here: tensors are NumPy arrays (bfloat16 as raw uint16 bits) or, when given, any object
with `.numpy()`.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from .core import TensorType
from .diagnostics import IrcError
from .dtypes import IR_TO_NP, IR_TO_ST, ITEMSIZE, NP_TO_IR, ST_TO_IR  # noqa: F401 (IR_TO_NP, IR_TO_ST re-exported)
from .writer import write_files

if TYPE_CHECKING:
    import torch


class WeightError(IrcError):
    pass


class WeightStore:
    """Named tensors: the ones in a safetensors file (lazily) plus ones added in memory."""

    def __init__(self, path: str | None = None):
        self.path = path
        self._header: dict = {}
        self._data_start = 0
        self._mmap = None
        self._file = None
        self._memory: dict[str, tuple[TensorType, object]] = {}
        self.missing_file = False
        if path is not None:
            self._read_header()

    @classmethod
    def open(cls, path: str) -> WeightStore:
        store = cls(None)
        store.path = path
        if os.path.isfile(path):
            store._read_header()
        else:
            store.missing_file = True
        return store

    # -- reading

    def _read_header(self):
        try:
            with open(self.path, "rb") as f:
                raw = f.read(8)
                if len(raw) != 8:
                    raise WeightError(f"{self.path}: not a safetensors file (too short)")
                (n,) = struct.unpack("<Q", raw)
                size = os.fstat(f.fileno()).st_size
                if n > 100_000_000 or n > size - 8:
                    raise WeightError(f"{self.path}: not a safetensors file (bad header length)")
                header = json.loads(f.read(n))
        except (OSError, ValueError, RecursionError) as e:
            raise WeightError(f"{self.path}: cannot read safetensors header: {e}") from None
        self._header = validate_header(header, size - 8 - n, self.path)
        self._data_start = 8 + n

    def has(self, key: str) -> bool:
        return key in self._memory or key in self._header

    def keys(self) -> list[str]:
        return sorted(set(self._header) | set(self._memory))

    def type_of(self, key: str) -> TensorType:
        if key in self._memory:
            return self._memory[key][0]
        info = self._header[key]
        return TensorType(tuple(info["shape"]), ST_TO_IR[info["dtype"]])

    def _buffer(self):
        if self._mmap is None:
            self._file = open(self.path, "rb")
            size = os.path.getsize(self.path)
            self._mmap = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        return self._mmap

    def raw(self, key: str) -> memoryview:
        """The tensor's bytes, without copying when it comes from the file."""
        if key in self._memory:
            arr = self._memory[key][1]
            return memoryview(np.ascontiguousarray(arr)).cast("B")
        begin, end = self._header[key]["data_offsets"]
        return memoryview(self._buffer())[self._data_start + begin:self._data_start + end]

    def numpy(self, key: str) -> np.ndarray:
        """A read-only NumPy view of the tensor (bf16 comes back as uint16 bits)."""
        if key in self._memory:
            return self._memory[key][1]
        ty = self.type_of(key)
        arr = np.frombuffer(self.raw(key), dtype=IR_TO_NP[ty.dtype])
        return arr.reshape(ty.shape)

    # -- writing

    def add(self, key: str, array: np.ndarray | torch.Tensor, dtype: str | None = None) -> None:
        """Keep a new tensor in memory under `key` (a NumPy array or something with .numpy())."""
        if not isinstance(array, np.ndarray):
            array = array.numpy() if hasattr(array, "numpy") else np.asarray(array)
        if dtype is None:
            dtype = NP_TO_IR.get(array.dtype.str)
            if dtype is None:
                raise WeightError(f"cannot store tensor '{key}' of NumPy dtype {array.dtype}")
        self._memory[key] = (TensorType(tuple(array.shape), dtype), np.ascontiguousarray(array))

    def in_memory(self, key: str) -> bool:
        """True for tensors a pass made, which exist nowhere on disk yet."""
        return key in self._memory

    def fresh_key(self, base: str) -> str:
        key, i = base, 0
        while self.has(key):  # not uniquify(): the taken keys are the store's, not a set
            i += 1
            key = f"{base}_{i}"
        return key

    def writer(self, keys: Iterable[str], metadata: dict | None = None) -> Callable[[BinaryIO], None]:
        """A function that writes the tensors `keys` (sorted) as one safetensors file (for `write_files`)."""
        keys = sorted(set(keys))
        entries = []
        for k in keys:
            ty = self.type_of(k)
            entries.append((k, ty.dtype, list(ty.shape)))
        blob = safetensors_header(entries, metadata)

        def write(f):
            f.write(blob)
            for k in keys:
                f.write(self.raw(k))
        return write

    def save(self, path: str, keys: Iterable[str]) -> None:
        """Write the tensors `keys` (sorted) to a safetensors file at `path`, atomically."""
        write_files([(path, self.writer(keys))], inputs=[self.path])

    def close(self) -> None:
        if self._mmap is not None and not isinstance(self._mmap, bytes):
            self._mmap.close()
        if self._file is not None:
            self._file.close()
        self._mmap = self._file = None


def validate_header(header: object, data_len: int, path: str) -> dict:
    """The tensors of a safetensors header, checked in full before any is used: a JSON object of
    {key: {dtype, shape, data_offsets}} whose offsets are ordered, inside the data section, exactly
    numel × itemsize long and non-overlapping."""
    def bad(msg):
        raise WeightError(f"{path}: invalid safetensors header: {msg}")

    if not isinstance(header, dict):
        bad("not a JSON object")
    meta = header.pop("__metadata__", None)
    if meta is not None and (not isinstance(meta, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in meta.items())):
        bad("__metadata__ must map strings to strings")
    spans = []
    for key, info in header.items():
        if not isinstance(info, dict):
            bad(f"entry '{key}' is not an object")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in ST_TO_IR:
            raise WeightError(f"{path}: tensor '{key}' has unsupported dtype {dtype}")
        if not isinstance(shape, list) or not all(type(d) is int and 0 <= d < 2**63 for d in shape):
            bad(f"tensor '{key}' has shape {shape!r}; expected a list of non-negative integers")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)):
            bad(f"tensor '{key}' has data_offsets {offsets!r}; expected [begin, end]")
        begin, end = offsets
        if not 0 <= begin <= end <= data_len:
            bad(f"tensor '{key}' has data_offsets [{begin}, {end}] outside the {data_len} bytes of data")
        numel = 1
        for d in shape:
            numel *= d
        if end - begin != numel * ITEMSIZE[ST_TO_IR[dtype]]:
            bad(f"tensor '{key}' of shape {shape} and dtype {dtype} needs {numel * ITEMSIZE[ST_TO_IR[dtype]]} "
                f"bytes, its data_offsets hold {end - begin}")
        spans.append((begin, end, key))
    spans.sort()
    for (_, e1, k1), (b2, e2, k2) in zip(spans, spans[1:]):
        if b2 < e1 and b2 != e2:
            bad(f"tensors '{k1}' and '{k2}' overlap")
    return header


def resolve_weights_path(ir_path: str | None, name: str, allow_outside: bool = False) -> str:
    """The weight file a module's `weights = NAME` means: NAME relative to the .ir file's folder, which it
    may not leave (after resolving symlinks) unless `allow_outside`. The refusal does not say whether the
    named file exists."""
    base = os.path.dirname(ir_path) if ir_path else "."
    path = os.path.join(base, name)
    if allow_outside:
        return path
    folder = os.path.realpath(base)
    target = os.path.realpath(path)
    if os.path.isabs(name) or os.path.commonpath([folder, target]) != folder or target == folder:
        where = ir_path or "the IR text"
        raise WeightError(f"{where}: the weight file \"{name}\" is not inside the folder of the .ir file; irc reads "
                          "weights only from there (pass --allow-outside-weights to read it anyway)")
    return path


def safetensors_header(entries: Iterable[tuple[str, str, Sequence[int]]], metadata: dict | None = None) -> bytes:
    """The 8-byte length and the JSON header of a safetensors file holding `entries`, (key, dtype, shape)
    in file order, padded to 8 bytes; `metadata` (str → str) goes in `__metadata__`."""
    header, offset = {}, 0
    if metadata:
        header["__metadata__"] = metadata
    for key, dtype, shape in entries:
        n = 1
        for d in shape:
            n *= d
        nbytes = n * ITEMSIZE[dtype]
        header[key] = {"dtype": IR_TO_ST[dtype], "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    return struct.pack("<Q", len(blob)) + blob
