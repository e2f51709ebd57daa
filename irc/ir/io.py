"""Reading and writing .ir files together with their weight files."""

from __future__ import annotations

import json
import os

from .core import Module
from .diagnostics import IrcError
from .parser import parse
from .printer import print_module
from .verifier import verify
from .weights import INDEX_SUFFIX
from .writer import finish_pending_writes, write_files


def load(path: str, verify_module: bool = True, allow_outside_weights: bool = False) -> Module:
    """Parse (and verify) an .ir file; its weight file is opened lazily."""
    finish_pending_writes(path)  # an earlier save killed half-way: complete it, so the pair is whole
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise IrcError(f"{path}: no such file") from None
    except OSError as e:
        raise IrcError(f"{path}: cannot read: {e.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise IrcError(f"{path}:{line}:{col}: error: this is not IR text: byte {data[e.start]:#04x} is not valid "
                       "UTF-8 (a binary file?)") from None
    module = parse(text, path, allow_outside_weights=allow_outside_weights)
    if verify_module:
        verify(module)
    return module


def used_param_keys(module: Module) -> list[str]:
    """The weight keys the module reads (a block's relative keys under each of its calls' scopes)."""
    from .structure import flatten

    return sorted({op.attrs["key"] for op in flatten(module).ops() if op.name == "nn.param"})


def save(module: Module, path: str, strip_locs: bool = False, weights_name: str | None = None) -> str | None:
    """Write `module` to `path` and, when it has params, its weights beside it.

    The weight file is named after the .ir file (`m.ir` → `m.safetensors`) and holds exactly the keys
    still used. Both are written as one unit (`irc.ir.writer.write_files`): after an error or a kill a
    reader finds the previous pair or the new one, never one of each.

    When the weights come from a checkpoint (a user's safetensors file, or an index of shards:
    `*.safetensors.index.json`) and the .ir goes into that checkpoint's folder, its files are referred to,
    not copied: the module names an index of its own, `m.safetensors.index.json`, mapping the keys it uses
    to the shards that hold them and any tensor made since (a folded constant, a pass's result) to
    `m.safetensors`. Elsewhere every tensor is copied into
    `m.safetensors`, file to file. Returns the name the module gives its weights (None without params).
    """
    keys = used_param_keys(module)
    attrs = dict(module.attrs)
    files = []
    store = module.weights
    if keys:
        if store is None:
            raise IrcError("the module uses nn.param but has no weight store")
        folder = os.path.dirname(os.path.abspath(path))
        stem = os.path.splitext(os.path.basename(path))[0]
        if weights_name is None and _refers(store, folder):
            attrs["weights"] = stem + INDEX_SUFFIX
            files += _index_files(store, keys, folder, stem)
        else:
            weights_name = weights_name or stem + ".safetensors"
            attrs["weights"] = weights_name
            files.append((os.path.join(folder, weights_name), store.writer(keys)))
    else:
        attrs.pop("weights", None)
    saved = module.attrs
    module.attrs = attrs
    try:
        text = print_module(module, strip_locs=strip_locs)
    finally:
        module.attrs = saved
    files.append((path, lambda f: f.write(text.encode("utf-8"))))  # the .ir last: readers open it first
    write_files(files, inputs=[module.path, *(store.paths() if store is not None else ())])
    return attrs.get("weights")


def _refers(store, folder: str) -> bool:
    """Whether a module saved into `folder` refers to its store's shards rather than copying them."""
    home = os.path.realpath(os.path.dirname(os.path.abspath(store.path or ".")))
    return (store.is_index() or store.checkpoint) and home == os.path.realpath(folder)


def _index_files(store, keys: list[str], folder: str, stem: str) -> list:
    """The files of a save that refers to a checkpoint's shards: `stem.safetensors` for the tensors no user shard
    holds (when there are any), then the index `stem.safetensors.index.json`."""
    wmap = {}
    for k in keys:
        shard = store.shard_of(k)
        if shard is not None and shard not in store.owned:
            wmap[k] = shard
    own = [k for k in keys if k not in wmap]
    own_name = stem + ".safetensors"
    if own_name in wmap.values():  # `irc-import w.safetensors -o w.ir`: the checkpoint keeps its name
        own_name = stem + ".irc.safetensors"
    files = []
    if own:
        files.append((os.path.join(folder, own_name), store.writer(own)))
        wmap.update(dict.fromkeys(own, own_name))
    index = {"metadata": {"total_size": sum(store.nbytes(k) for k in keys), "irc.owned": own_name if own else ""},
             "weight_map": dict(sorted(wmap.items()))}
    text = json.dumps(index, indent=2) + "\n"
    files.append((os.path.join(folder, stem + INDEX_SUFFIX), lambda f: f.write(text.encode("utf-8"))))
    return files
