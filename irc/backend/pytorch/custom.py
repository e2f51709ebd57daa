"""Kept modules (irc/ir/ops/custom.py): `nn.call_module` imports the user's class and calls it.

One helper function per class and constructor arguments, written beside the code (and run by the torch
executor): it builds the module once (`Class(**init)`, or `Class()` when the import recovered no
arguments), then calls it with `torch.func.functional_call` on the op's state operands, matched to the
module's own state_dict names in order. The emitted model.py holds those tensors at their state_dict keys
like any other params, so its state_dict keys stay the source's.

`package.module:Class` is imported by name. For `path/to/file.py:Class` the helper imports the file's
stem (`from file import Class`): the emitted model.py needs file.py beside it or on PYTHONPATH, and so does
the torch executor in a process other than the irc-import that kept it (an IR never makes irc run a file it
names). Whatever is imported must be an nn.Module class before it is constructed, so an edited IR cannot
make the executor call an arbitrary callable.
"""

from __future__ import annotations

import hashlib
import json
import keyword
import os
import sys

from ...ir import IrcError, Op
from .base import Ctx, emits, helper, lit
from .names import IDENT


def _import_parts(spec: str) -> tuple[str, list[str]]:
    """("module.to.import", [Class, Inner]) for `package.module:Class` or `path/to/file.py:Class`."""
    where, _, qualname = spec.rpartition(":")
    if where.endswith(".py") or "/" in where or os.sep in where:
        # never run a file an IR names: the file is imported by its stem, so it must already be loaded (the
        # irc-import that kept the class, which the user pointed at it) or lie on the import path, as it must
        # beside the emitted model.py
        path, where = where, os.path.splitext(os.path.basename(where))[0]
        _alias_loaded(path, where)
    parts = qualname.split(".")
    if not where or not all(IDENT.match(p) and not keyword.iskeyword(p) for p in where.split(".") + parts):
        raise IrcError(f"nn.call_module: module {spec!r} is not 'package.module:Class' or 'path/to/file.py:Class' "
                       "with Python identifiers")
    return where, parts


def _alias_loaded(path: str, stem: str) -> None:
    """Let `from STEM import Class` find the file irc-import already loaded (under a private name) in this
    process; nothing is run."""
    if stem in sys.modules or not IDENT.match(stem):
        return
    full = os.path.abspath(path)
    for module in list(sys.modules.values()):
        if getattr(module, "__file__", None) and os.path.abspath(module.__file__) == full:
            sys.modules[stem] = module
            return


def _init_text(op: Op) -> str:
    """The constructor's keyword arguments as source text."""
    if not op.attrs["init"]:
        return ""
    try:
        kwargs = json.loads(op.attrs["init"])
    except json.JSONDecodeError as e:
        raise IrcError(f"nn.call_module: attribute 'init' is not JSON: {e}") from None
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) and IDENT.match(k) for k in kwargs):
        raise IrcError("nn.call_module: attribute 'init' must be a JSON object of keyword arguments")
    return ", ".join(f"{k}={lit(v)}" for k, v in kwargs.items())


def keep_helper(op: Op) -> str:
    """Register (once) and name the helper that builds and calls `op`'s module."""
    where, parts = _import_parts(op.attrs["module"])
    init = _init_text(op)
    tag = hashlib.sha1(f"{op.attrs['module']}|{op.attrs['init']}".encode()).hexdigest()[:8]
    name = f"keep_{parts[-1]}_{tag}"
    cls = ".".join(parts)
    source = f'''
def {name}(*inputs, state=()):
    """A module kept whole by irc-import --keep-module: built once, called on the state given."""
    module = {name}.__dict__.get("module")
    if module is None:
        from {where} import {parts[0]}

        if not (isinstance({cls}, type) and issubclass({cls}, torch.nn.Module)):
            raise TypeError({name}.__name__)  # the imported name is not an nn.Module class
        module = {cls}({init}).eval()
        {name}.module = module
    return torch.func.functional_call(module, dict(zip(list(module.state_dict()), state)), inputs)
'''
    return helper(name, source)


@emits("call_module")
def call_module(ctx: Ctx, op: Op) -> str:
    name = ctx.helper(keep_helper(op))
    n = op.attrs["inputs"]
    inputs = [ctx.arg(i) for i in range(n)]
    state = [ctx.arg(i) for i in range(n, len(op.operands))]
    call = f"{name}({', '.join(inputs)}, state=({', '.join(state)}{',' if len(state) == 1 else ''}))"
    # a tuple whatever the module returns: the op's number of results follows its attributes
    return f"({call},)" if op.attrs["returns"] == "tensor" else f"tuple({call})"
