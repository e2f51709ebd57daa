"""Reading and writing .ir files together with their weight files."""

from __future__ import annotations

import os

from .core import Module
from .diagnostics import IrcError
from .parser import parse
from .printer import print_module
from .verifier import verify
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


def save(module: Module, path: str, strip_locs: bool = False, weights_name: str | None = None) -> None:
    """Write `module` to `path` and, when it has params, its weights beside it.

    The weight file is named after the .ir file (`m.ir` → `m.safetensors`) and holds exactly the keys
    still used. Both are written as one unit (`irc.ir.writer.write_files`): after an error or a kill a
    reader finds the previous pair or the new one, never one of each.
    """
    keys = used_param_keys(module)
    attrs = dict(module.attrs)
    files = []
    if keys:
        if module.weights is None:
            raise IrcError("the module uses nn.param but has no weight store")
        weights_name = weights_name or os.path.splitext(os.path.basename(path))[0] + ".safetensors"
        attrs["weights"] = weights_name
        wpath = os.path.join(os.path.dirname(os.path.abspath(path)), weights_name)
        files.append((wpath, module.weights.writer(keys)))
    else:
        attrs.pop("weights", None)
    saved = module.attrs
    module.attrs = attrs
    try:
        text = print_module(module, strip_locs=strip_locs)
    finally:
        module.attrs = saved
    files.append((path, lambda f: f.write(text.encode("utf-8"))))  # the .ir last: readers open it first
    write_files(files, inputs=[module.path, module.weights.path if module.weights is not None else None])
