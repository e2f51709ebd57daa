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
import tempfile

import numpy as np

from .core import TensorType
from .diagnostics import IrcError
from .dtypes import IR_TO_NP, IR_TO_ST, ITEMSIZE, NP_TO_IR, ST_TO_IR  # noqa: F401 (IR_TO_NP, IR_TO_ST re-exported)



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
                if n > 100_000_000 or n > os.path.getsize(self.path) - 8:
                    raise WeightError(f"{self.path}: not a safetensors file (bad header length)")
                header = json.loads(f.read(n))
        except (OSError, ValueError) as e:
            raise WeightError(f"{self.path}: cannot read safetensors header: {e}") from None
        header.pop("__metadata__", None)
        for key, info in header.items():
            if info.get("dtype") not in ST_TO_IR:
                raise WeightError(f"{self.path}: tensor '{key}' has unsupported dtype {info.get('dtype')}")
        self._header = header
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

    def add(self, key: str, array, dtype: str | None = None) -> None:
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

    def save(self, path: str, keys) -> None:
        """Write the tensors `keys` (sorted) to a safetensors file at `path`, atomically."""
        keys = sorted(set(keys))
        if self.path and os.path.exists(path) and os.path.exists(self.path) and os.path.samefile(path, self.path):
            raise WeightError(f"refusing to overwrite the weight file being read: {path}")
        header, offset = {}, 0
        for k in keys:
            ty = self.type_of(k)
            nbytes = (ty.numel() or 0) * ITEMSIZE[ty.dtype]
            header[k] = {"dtype": IR_TO_ST[ty.dtype], "shape": list(ty.shape), "data_offsets": [offset, offset + nbytes]}
            offset += nbytes
        blob = json.dumps(header, separators=(",", ":")).encode()
        blob += b" " * (-len(blob) % 8)
        write_atomic(path, lambda f: _write_tensors(f, blob, keys, self))

    def close(self):
        if self._mmap is not None and not isinstance(self._mmap, bytes):
            self._mmap.close()
        if self._file is not None:
            self._file.close()
        self._mmap = self._file = None


def _write_tensors(f, header_blob, keys, store):
    f.write(struct.pack("<Q", len(header_blob)))
    f.write(header_blob)
    for k in keys:
        f.write(store.raw(k))


def write_atomic(path: str, write) -> None:
    """Call write(file) on a temporary file beside `path`, then rename it into place."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
