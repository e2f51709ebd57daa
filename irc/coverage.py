"""Which phase covers which op: the per-op matrix at the end of docs/ops.md, built from the op-keyed tables.

For every IR op: the source ops of every frontend (ATen overloads, ONNX operators, Keras layers, ...) whose
importers produce it, its FLOPs rule, its nn.Module form in emitted PyTorch, the ONNX operators it is emitted
as, and one column per backend, so a new frontend's or backend's gaps show as empty cells. The frontends and
backends are the ones the registries name (`irc.frontend.FORMATS`, `irc.backend.TARGETS`). What an importer
produces, and what an ONNX emitter writes, is read from the handlers' code (the op kinds and ONNX operator
names they pass to calls, following the helpers they call), so the matrix cannot drift from the tables.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections import defaultdict

from .ir.ops import OPS

_ONNX_NAME = re.compile(r"[A-Z][A-Za-z]+\Z")


def _function_constants(fn, seen: set, depth: int = 0) -> set:
    """String constants passed as the first argument of a call in `fn` (or bound in its closure), and in
    the irc functions it calls, three levels deep."""
    fn = inspect.unwrap(fn)
    if id(fn) in seen or depth > 3 or not callable(fn):
        return set()
    seen.add(id(fn))
    out = set()
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:
            continue
        if isinstance(value, str):
            out.add(value)
        elif callable(value) and getattr(value, "__module__", "").startswith("irc."):
            out |= _function_constants(value, seen, depth + 1)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return out
    names = getattr(fn, "__globals__", {})
    for node in ast.walk(tree):
        table = names.get(node.id) if isinstance(node, ast.Name) else None
        if isinstance(table, dict) and all(isinstance(v, str) for v in table.values()):
            out |= set(table.values())  # a name table such as {"lstm": "LSTM"}
        if not isinstance(node, ast.Call):
            continue
        if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            out.add(node.args[0].value)
        target = names.get(node.func.id) if isinstance(node.func, ast.Name) else None
        if target is not None and getattr(target, "__module__", "").startswith("irc."):
            out |= _function_constants(target, seen, depth + 1)
    return out


def _module_classes(fn) -> list[str]:
    """The nn.* classes a module form writes (`nn.Conv2d(...)` in its f-strings), following its helpers."""
    found = set()
    fn = getattr(fn, "ctor", fn)
    for f in [fn] + [c.cell_contents for c in (getattr(fn, "__closure__", None) or ()) if callable(c.cell_contents)]:
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(inspect.unwrap(f))))
        except (OSError, TypeError, SyntaxError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found |= set(re.findall(r"nn\.([A-Z][A-Za-z0-9]+)", node.value))
            table = f.__globals__.get(node.id) if isinstance(node, ast.Name) else None
            if isinstance(table, dict) and all(isinstance(v, str) for v in table.values()):
                found |= {v for v in table.values() if re.fullmatch(r"[A-Z][A-Za-z0-9]+", v)}
    return sorted(found)


def _is_onnx_op(name: str) -> bool:
    import onnx

    return bool(_ONNX_NAME.match(name)) and onnx.defs.has(name)


def _produced(table) -> dict[str, list[str]]:
    """IR op name -> source op keys whose importer produces it."""
    out = defaultdict(list)
    for key, fn in table.items():
        kinds = _function_constants(fn, set())
        if isinstance(key, str):
            kinds.add(key.lower())  # a handler that makes nn.<op_type lowercased> (ONNX LSTM -> nn.lstm)
        for kind in kinds:
            if "nn." + kind in OPS:
                out["nn." + kind].append(_source_name(key))
    return out


def _source_name(key) -> str:
    name = getattr(key, "__name__", None) if not isinstance(key, str) else key
    text = str(key) if name is None else name
    return text.replace("aten::", "").replace("aten.", "")


def _onnx_out(table) -> dict[str, list[str]]:
    return {name: sorted(c for c in _function_constants(fn, set()) if _is_onnx_op(c))
            for name, fn in table.items()}


def _flops_rule(opdef) -> str:
    if opdef.flops is not None:
        doc = (inspect.getdoc(opdef.flops) or "").split("\n")[0]
        return doc or "own rule"
    return "none (movement)" if opdef.has("movement") else "1 per output element"


def _cell(items, limit: int = 6, op: str = "") -> str:
    """Up to `limit` names (those named like the IR op `op` first), then how many more."""
    short = op.removeprefix("nn.").replace("_", "")
    items = sorted(set(items), key=lambda i: (not i.lower().replace("_", "").startswith(short), i))
    if not items:
        return "—"
    shown = ", ".join(f"`{i}`" for i in items[:limit])
    return shown + (f" +{len(items) - limit}" if len(items) > limit else "")


def _package(entry: str) -> str:
    """The package of an entry string 'irc.frontend.onnx:import_onnx' (its first three parts)."""
    return ".".join(entry.partition(":")[0].split(".")[:3])


def tables() -> dict:
    """The op-keyed tables of every frontend (`IMPORTERS`) and backend (`EMITTERS`) named by the registries
    `irc.frontend.FORMATS` and `irc.backend.TARGETS`, by column title; a package whose framework is not
    installed is left out."""
    import importlib

    from .backend import TARGETS
    from .backend.pytorch import MODULES
    from .frontend import FORMATS

    def table(package: str, name: str):
        try:
            return getattr(importlib.import_module(package), name)
        except ImportError:
            return None

    frontends = {"ATen": table("irc.frontend.torch", "IMPORTERS")}
    frontends.update((f.name, table(_package(f.load), "IMPORTERS")) for f in FORMATS)
    backends = {t.name: table(_package(t.emit), "EMITTERS") for t in TARGETS.values()}
    return {"frontends": {k: v for k, v in frontends.items() if v is not None}, "modules": MODULES,
            "backends": {k: v for k, v in backends.items() if v is not None}}


def render_matrix() -> str:
    t = tables()
    produced = {name: _produced(table) for name, table in t["frontends"].items()}
    onnx_out = _onnx_out(t["backends"]["onnx"])
    backends = t["backends"]
    head = (["op", "FLOPs"] + [f"{name} in" for name in produced] + ["nn.Module form", "ONNX out"]
            + list(backends))
    lines = ["## Coverage by phase", "",
             "Generated from the op-keyed tables of every frontend and backend (`irc/coverage.py`): which source ops "
             "(ATen, ONNX operators, Keras layers, TFLite operators, Caffe layers, Darknet sections, ...) import as "
             "each IR op, its FLOPs rule, its nn.Module form in emitted PyTorch, the ONNX operators it is emitted "
             "as, and one column per backend (✔ = emitted, — = the backend lacks it).", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in sorted(OPS):
        opdef = OPS[name]
        module = t["modules"].get(name)
        form = "—" if module is None else ", ".join(f"`nn.{c}`" for c in _module_classes(module)) or "✔"
        row = [f"`{name}`", _flops_rule(opdef)] + [_cell(p.get(name, []), 4, name) for p in produced.values()]
        row += [form, _cell(onnx_out.get(name, []))]
        row += ["✔" if name in table or name in ("nn.param",) or OPS[name].has("inlined") else "—"
                for table in backends.values()]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def render_docs() -> str:
    """docs/ops.md: the registry's op reference and the coverage matrix."""
    from .ir.ops.docs import render

    return render() + "\n" + render_matrix()
