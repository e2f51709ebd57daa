"""The weight store: `nn.param` tensors in a safetensors file, or in the shards of a checkpoint, read lazily.

Opening a store reads only the files' JSON headers (names, dtypes, shapes). Tensor bytes are
memory-mapped on first use, or copied file to file without passing through memory when a writer
streams them (`write_tensor`). Passes add new tensors in memory; `save` writes exactly the keys the
module still uses into a temporary file and renames it into place, never over a file it reads.

A store may name a Hugging Face style index (`*.safetensors.index.json`: {"weight_map": {key: shard}})
instead of one file: its shards must lie in the index's folder. `irc.save` writes such an index of its
own when the .ir goes into the checkpoint's folder, so a converted checkpoint is referred to, not copied.
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


class _File:
    """One safetensors file a store reads: its checked header and, once a tensor is mapped, the mapping."""

    def __init__(self, path: str):
        self.path = path
        self.mmap = None
        self.file = None
        try:
            with open(path, "rb") as f:
                raw = f.read(8)
                if len(raw) != 8:
                    raise WeightError(f"{path}: not a safetensors file (too short)")
                (n,) = struct.unpack("<Q", raw)
                size = os.fstat(f.fileno()).st_size
                if n > 100_000_000 or n > size - 8:
                    raise WeightError(f"{path}: not a safetensors file (bad header length)")
                header = json.loads(f.read(n))
        except (OSError, ValueError, RecursionError) as e:
            raise WeightError(f"{path}: cannot read safetensors header: {e}") from None
        self.header = validate_header(header, size - 8 - n, path)
        self.data_start = 8 + n

    def buffer(self):
        if self.mmap is None:
            self.file = open(self.path, "rb")
            size = os.path.getsize(self.path)
            self.mmap = mmap.mmap(self.file.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        return self.mmap

    def span(self, key: str) -> tuple[int, int]:
        """The tensor's (file offset, byte count)."""
        begin, end = self.header[key]["data_offsets"]
        return self.data_start + begin, end - begin

    def close(self) -> None:
        if self.mmap is not None and not isinstance(self.mmap, bytes):
            self.mmap.close()
        if self.file is not None:
            self.file.close()
        self.mmap = self.file = None


INDEX_SUFFIX = ".safetensors.index.json"


class WeightStore:
    """Named tensors: the ones in a safetensors file or a checkpoint's shards (lazily) plus ones added in memory."""

    def __init__(self, path: str | None = None):
        self.path = path  # the file the module names: a safetensors file or an index of shards
        self._files: dict[str, _File] = {}  # shard name (or the file's own path) -> file
        self._where: dict[str, _File] = {}  # key -> the file holding it
        self.owned: set[str] = set()  # shards of an index irc wrote that hold irc's own tensors
        self.checkpoint = False  # a user's checkpoint: a module saved beside its files refers to them (irc.save)
        self._memory: dict[str, tuple[TensorType, object]] = {}
        self.missing_file = False
        self._index = False
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
        if _is_index(self.path):
            self._index = True
            self._read_index()
            return
        f = _File(self.path)
        self._files = {os.path.basename(self.path): f}
        self._where = dict.fromkeys(f.header, f)

    def _read_index(self):
        """A Hugging Face style index: {"weight_map": {key: shard file}, "metadata": {...}}. Every shard is a
        safetensors file in the index's folder (no other path is read) that holds the keys mapped to it."""
        path = self.path
        try:
            if os.path.getsize(path) > 100_000_000:
                raise WeightError(f"{path}: the checkpoint index is larger than 100 MB")
            with open(path, "rb") as f:
                index = json.loads(f.read())
        except (OSError, ValueError, RecursionError) as e:
            raise WeightError(f"{path}: cannot read the checkpoint index: {_reason(e)}") from None
        wmap = index.get("weight_map") if isinstance(index, dict) else None
        if not isinstance(wmap, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in wmap.items()):
            raise WeightError(f"{path}: not a checkpoint index: expected a JSON object whose \"weight_map\" maps "
                              "tensor names to shard files")
        meta = index.get("metadata")
        owned = meta.get("irc.owned", "") if isinstance(meta, dict) else ""
        self.owned = set(owned.split(",")) - {""} if isinstance(owned, str) else set()
        folder = os.path.realpath(os.path.dirname(path) or ".")
        for name in sorted(set(wmap.values())):
            shard = os.path.join(os.path.dirname(path), name)
            if os.path.basename(name) != name or name in (".", "..") or name.endswith(INDEX_SUFFIX) or \
                    os.path.dirname(os.path.realpath(shard)) != folder:  # a symlink out of the folder too
                raise WeightError(f"{path}: the shard \"{name}\" is not a file name in the index's folder; irc "
                                  "reads shards only from there")
            if not os.path.isfile(shard):
                raise WeightError(f"{path}: the shard \"{name}\" it names does not exist")
            self._files[name] = _File(shard)
        for key, name in wmap.items():
            f = self._files[name]
            if key not in f.header:
                raise WeightError(f"{path}: the index puts '{key}' in {name}, which does not hold it")
            self._where[key] = f

    def has(self, key: str) -> bool:
        return key in self._memory or key in self._where

    def keys(self) -> list[str]:
        return sorted(set(self._where) | set(self._memory))

    def type_of(self, key: str) -> TensorType:
        if key in self._memory:
            return self._memory[key][0]
        info = self._where[key].header[key]
        return TensorType(tuple(info["shape"]), ST_TO_IR[info["dtype"]])

    def mapped(self) -> bool:
        """Whether any of the store's files is memory-mapped (after a tensor was read through `raw` or `numpy`)."""
        return any(f.mmap is not None for f in self._files.values())

    def paths(self) -> list[str]:
        """Every file the store reads: the one the module names and, for an index, its shards."""
        if self.path is None:
            return []
        return [self.path] + [f.path for f in self._files.values() if f.path != self.path]

    def is_index(self) -> bool:
        return self._index

    def shard_of(self, key: str) -> str | None:
        """The file name of the shard holding a key, for an index or a user's checkpoint (else None, as for a tensor
        in memory)."""
        if key in self._memory or not (self.is_index() or self.checkpoint):
            return None
        f = self._where[key]
        return os.path.basename(f.path)

    def nbytes(self, key: str) -> int:
        ty = self.type_of(key)
        n = ITEMSIZE[ty.dtype]
        for d in ty.shape:
            n *= d
        return n

    def raw(self, key: str) -> memoryview:
        """The tensor's bytes, without copying when it comes from the file (a mapping of it)."""
        if key in self._memory:
            arr = self._memory[key][1]
            return memoryview(np.ascontiguousarray(arr)).cast("B")
        f = self._where[key]
        start, n = f.span(key)
        return memoryview(f.buffer())[start:start + n]

    def numpy(self, key: str) -> np.ndarray:
        """A read-only NumPy view of the tensor (bf16 comes back as uint16 bits)."""
        if key in self._memory:
            return self._memory[key][1]
        ty = self.type_of(key)
        arr = np.frombuffer(self.raw(key), dtype=IR_TO_NP[ty.dtype])
        return arr.reshape(ty.shape)

    def write_tensor(self, key: str, out: BinaryIO) -> None:
        """Append the tensor's bytes to the binary file `out`. A tensor from a file is copied file to file in
        chunks (the kernel's copy_file_range where it has one), never mapped: a writer of a checkpoint larger
        than memory holds one chunk at a time."""
        if key in self._memory:
            out.write(self.raw(key))
            return
        f = self._where[key]
        start, n = f.span(key)
        with open(f.path, "rb") as src:
            try:
                out.fileno()
            except (AttributeError, OSError, ValueError):  # not a file (io.BytesIO): chunk by chunk
                for at in range(start, start + n, 1 << 24):
                    out.write(os.pread(src.fileno(), min(1 << 24, start + n - at), at))
                return
            out.flush()
            _copy_range(src.fileno(), out, start, n)

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
                self.write_tensor(k, f)
        return write

    def save(self, path: str, keys: Iterable[str]) -> None:
        """Write the tensors `keys` (sorted) to a safetensors file at `path`, atomically."""
        write_files([(path, self.writer(keys))], inputs=self.paths())

    def close(self) -> None:
        for f in self._files.values():
            f.close()


class StoredTensor:
    """A tensor's bytes still in its store, for writers that stream: len() and write_to(out)."""

    def __init__(self, store: WeightStore, key: str):
        self.store, self.key = store, key

    def __len__(self) -> int:
        return self.store.nbytes(self.key)

    def write_to(self, out: BinaryIO) -> None:
        self.store.write_tensor(self.key, out)


def _is_index(path: str) -> bool:
    """Whether `path` is a checkpoint index rather than a safetensors file, by content: a safetensors file starts
    with its header's 8-byte length (which fits the file) and then `{`; an index starts with `{` (the length's
    first byte may be `{` too, so the safetensors form is tested first)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            size = os.fstat(f.fileno()).st_size
    except OSError:
        return path.endswith(INDEX_SUFFIX)
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") <= size - 8:
        return False
    return head.lstrip()[:1] == b"{"


def _copy_range(src: int, out: BinaryIO, offset: int, n: int, chunk: int = 1 << 24) -> None:
    """Copy `n` bytes at `offset` of the file descriptor `src` to the end of `out` (flushed)."""
    dst = out.fileno()
    fast = hasattr(os, "copy_file_range")
    while n > 0:
        done = 0
        if fast:
            try:
                done = os.copy_file_range(src, dst, min(n, 1 << 30), offset)
            except OSError:
                fast = False
        if not done:
            data = os.pread(src, min(n, chunk), offset)
            if not data:
                raise WeightError(f"a weight file ended {n} bytes early")
            view = memoryview(data)
            while view:
                view = view[os.write(dst, view):]
            done = len(data)
        offset += done
        n -= done
    out.seek(0, os.SEEK_END)  # the buffered writer continues where the copy ended


def _reason(e: BaseException) -> str:
    return e.strerror if isinstance(e, OSError) and e.strerror else str(e)


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
