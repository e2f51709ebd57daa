"""Shared helpers for the emitter tests (no tests here): emit, import the emitted file, lint it."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys

import pytest
from helpers import _NoWeights, golden_copy, make_weights

ALLOWED_IMPORTS = {"json", "os", "torch", "torch.nn.functional", "torch.nn", "safetensors.torch", "collections"}
SAFE_STRING = re.compile(r"[A-Za-z0-9_]*\Z|[+-]?inf\Z|nan\Z|model\.safetensors\Z")
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_counter = [0]


def emit(module, out_dir):
    import irc

    return irc.emit_pytorch(module, str(out_dir))


def import_model_py(out_dir):
    """Import out_dir/model.py under a fresh module name."""
    _counter[0] += 1
    spec = importlib.util.spec_from_file_location(f"emitted_test_{_counter[0]}", os.path.join(str(out_dir), "model.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def ir_from_text(text, tmp_path, name="m.ir", seed=0):
    """Write IR text (with a `weights` attribute) to tmp_path, make random weights for it, load it."""
    import irc

    path = os.path.join(str(tmp_path), name)
    with open(path, "w") as f:
        f.write(text)
    module = irc.parse(text, path, weights=_NoWeights())
    wname = module.attrs.get("weights")
    if wname:
        make_weights(module, os.path.join(str(tmp_path), wname), seed)
    return irc.load(path)


def golden(name, tmp_path, seed=0):
    """tests/ir/NAME copied to tmp_path with random weights, loaded."""
    import irc

    return irc.load(golden_copy(name, tmp_path, seed))


def lint(path):
    """py_compile and `ruff check` (default rules) on one file; fails the test with their output."""
    proc = subprocess.run([sys.executable, "-m", "py_compile", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    proc = subprocess.run([ruff, "check", "--no-cache", "--isolated", str(path)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def audit(source: str):
    """The emitted file's safety: only the expected imports, ASCII identifiers, strings of the sanitised
    form, and no call that reaches outside torch (no eval/exec/open/__import__/os.system...).
    Returns the set of names called. The one function that touches files, finish_pending_writes (load()
    completes an interrupted write first), must be exactly irc's and is left out of the rest."""
    tree = ast.parse(source)
    tree.body = [n for n in tree.body if not _is_finish_pending_writes(n)]
    docstrings = set()
    for n in ast.walk(tree):
        if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef)) and n.body and isinstance(n.body[0], ast.Expr) \
                and isinstance(n.body[0].value, ast.Constant):
            docstrings.add(id(n.body[0].value))
    called = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            assert {a.name for a in n.names} <= ALLOWED_IMPORTS, ast.dump(n)
        if isinstance(n, ast.ImportFrom):
            assert n.module in ALLOWED_IMPORTS | {"torch"}, n.module
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings:
            assert SAFE_STRING.match(n.value), repr(n.value)
        for fld in ("id", "attr", "arg"):
            v = getattr(n, fld, None)
            if isinstance(v, str):
                assert IDENT.match(v), repr(v)
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)):
            assert IDENT.match(n.name)
        if isinstance(n, ast.Call):
            called.add(_dotted(n.func))
    forbidden = {"eval", "exec", "compile", "open", "__import__", "os.system", "os.popen", "globals", "locals",
                 "vars", "input", "breakpoint", "delattr"}
    assert not (called & forbidden), called & forbidden
    for c in called:
        if c.startswith("os."):
            assert c in ("os.path.join", "os.path.dirname", "os.path.abspath"), c
    return called


def _is_finish_pending_writes(node) -> bool:
    from irc.backend.pytorch.template import FINISH_PENDING_WRITES

    if not (isinstance(node, ast.FunctionDef) and node.name == "finish_pending_writes"):
        return False
    assert ast.dump(node) == ast.dump(ast.parse(FINISH_PENDING_WRITES).body[0]), "finish_pending_writes changed"
    return True


def _dotted(f) -> str:
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):
        return _dotted(f.value) + "." + f.attr
    if isinstance(f, ast.Subscript):
        return _dotted(f.value) + "[]"
    if isinstance(f, ast.Call):
        return _dotted(f.func) + "()"
    return "<expr>"


def run_both(module, model, inputs):
    """(executor outputs, emitted model outputs) as tuples."""
    import torch

    from irc.backend.pytorch.executor import run

    ref = run(module, *inputs)
    with torch.no_grad():
        out = model(*inputs)
    return ref, out if isinstance(out, tuple) else (out,)
