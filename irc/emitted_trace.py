"""irc-check --bisect against an emitted model.py: trace what its forwards compute, named as in the inlined IR."""

from __future__ import annotations

import ast
import os
import re
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from .ir import Module
from .ir.structure import flatten

if TYPE_CHECKING:
    import torch


class EmittedRuntime:
    """The model.py that irc-emit wrote into `directory` from `module`: every class's `forward` is traced line by
    line (sys.settrace) and each local is yielded, under its name in the inlined IR, once it is assigned. A
    block's instance (`self.layer1[0]`) runs the function its call names, so its locals are that function's
    values under the instance's path; an nn.Sequential's children are blocks of their own."""

    def __init__(self, directory: str, module: Module):
        from .check import import_emitted

        self.model = import_emitted(directory).load()
        self.path = os.path.abspath(os.path.join(directory, "model.py"))
        with open(self.path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        forwards = {cls.name: fn for cls in tree.body if isinstance(cls, ast.ClassDef) for fn in cls.body
                    if isinstance(fn, ast.FunctionDef) and fn.name == "forward"}
        flat: dict[int, str] = {}
        flatten(module, names=flat)
        functions = _instances(module)
        self.names: dict[int, dict[str, str]] = {}  # id(module instance) -> {local: IR name}
        for path, sub in self.model.named_modules():
            func = functions.get(path)
            forward = forwards.get(type(sub).__name__)
            if func is None or forward is None:
                continue
            if path:
                self.names[id(sub)] = {k: f"{path}.{v}" for k, v in _locals(forward, func, None).items()}
            else:
                self.names[id(sub)] = _locals(forward, func, flat)

    def run_named(self, inputs: list[torch.Tensor],
                  want: set[str] | None = None) -> Iterator[tuple[str, torch.Tensor]]:
        names = {i: {k: v for k, v in m.items() if want is None or v in want} for i, m in self.names.items()}

        def produce(emit: Callable[[str, torch.Tensor], None]) -> None:
            seen: set[str] = set()

            def local_trace(frame: object, event: str, arg: object) -> object:
                if event in ("line", "return"):
                    mine = names.get(id(frame.f_locals.get("self")), {})
                    for local, value in list(frame.f_locals.items()):
                        if local in mine and mine[local] not in seen:
                            seen.add(mine[local])
                            # a copy: the emitted code may update this tensor in place later (relu_, add_)
                            emit(mine[local], value.clone() if hasattr(value, "clone") else value)
                return local_trace

            def call_trace(frame: object, event: str, arg: object) -> object:
                code = frame.f_code
                return local_trace if code.co_name == "forward" and code.co_filename == self.path else None

            sys.settrace(call_trace)
            try:
                self.model(*inputs)
            finally:
                sys.settrace(None)

        from .bisect import stream

        return stream(produce)


def _instances(module: Module) -> dict[str, object]:
    """{instance path: the function it runs}: "" for the main one, `layer1.0` for a block called there."""
    out = {"": module.main}
    stack = [(module.main, "")]
    while stack and len(out) < 100_000:
        func, prefix = stack.pop()
        for op in func.ops:
            if op.name == "nn.call":
                callee = module.func(op.attrs["callee"])
                path = prefix + op.attrs["scope"]
                if callee is not None and path not in out:
                    out[path] = callee
                    stack.append((callee, path + "."))
    return out


def emitted_locals(directory: str, module: Module) -> dict[str, str]:
    """{local name in the model class's forward: IR value name} (see _locals), the names of the inlined IR."""
    with open(os.path.join(directory, "model.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    forward = next(fn for cls in reversed(tree.body) if isinstance(cls, ast.ClassDef) for fn in cls.body
                   if isinstance(fn, ast.FunctionDef) and fn.name == "forward")
    flat: dict[int, str] = {}
    flatten(module, names=flat)
    return _locals(forward, module.main, flat)


def _locals(forward: ast.FunctionDef, func: object, flat: dict[int, str] | None) -> dict[str, str]:
    """{local name in `forward`: name of the value of `func` it holds}: forward assigns one line per op (params,
    constants and identities have none) in the function's order, each local the IR name sanitised and made
    unique; a line the function has no op for (an optional child the instance lacks) is passed over. `flat`
    maps the values to their names in the inlined IR."""
    from .backend.pytorch.names import sanitize

    targets = [n.id for st in forward.body if isinstance(st, ast.Assign)
               for t in st.targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    out, i = {}, 0
    for op in func.ops:
        if not op.operands:
            continue
        for r in op.results:
            base = re.escape(sanitize(r.name, "v").lstrip("_"))
            j = next((j for j in range(i, min(i + 2, len(targets)))  # one line more: an optional child
                      if re.fullmatch(rf"_?{base}_?(_\d+)?", targets[j])), None)
            if j is not None:
                out[targets[j]] = flat[id(r)] if flat is not None else r.name
                i = j + 1
    return out
