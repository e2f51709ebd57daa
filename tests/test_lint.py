"""ruff (rules in pyproject.toml) over irc/, tests/ and bench/; the size limits of DESIGN.md's layout."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or os.path.join(os.path.dirname(sys.executable), "ruff")
    proc = subprocess.run([ruff, "check", "--no-cache", "irc", "tests", "bench", "examples"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]


def _sources():
    for dirpath, _, files in os.walk(os.path.join(ROOT, "irc")):
        for f in sorted(files):
            if f.endswith(".py"):
                yield os.path.join(dirpath, f)


def test_no_file_over_500_lines_and_no_function_over_60():
    long_files, long_funcs = [], []
    for path in _sources():
        text = open(path, encoding="utf-8").read()
        rel = os.path.relpath(path, ROOT)
        if text.count("\n") > 500:
            long_files.append(f"{rel} ({text.count(chr(10))} lines)")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > 60:
                    long_funcs.append(f"{rel}:{node.lineno} {node.name} ({n} lines)")
    assert not long_files, "files over 500 lines: " + ", ".join(long_files)
    assert not long_funcs, "functions over 60 lines: " + ", ".join(long_funcs)


def _public_functions(tree, rel):
    """Module-level functions and methods of module-level classes whose names (and module) are public."""
    if any(part.startswith("_") and part != "__init__.py" for part in rel.split(os.sep)):
        return
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            yield node.name, node
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not item.name.startswith("_"):
                    yield f"{node.name}.{item.name}", item


def test_public_functions_are_annotated():
    missing = []
    for path in _sources():
        rel = os.path.relpath(path, ROOT)
        tree = ast.parse(open(path, encoding="utf-8").read())
        for name, fn in _public_functions(tree, rel):
            args = fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs
            bare = [a.arg for a in args if a.annotation is None and a.arg not in ("self", "cls")]
            if bare or fn.returns is None:
                missing.append(f"{rel}:{fn.lineno} {name}" + (f" (params {', '.join(bare)})" if bare else "")
                               + ("" if fn.returns is not None else " (return)"))
    assert not missing, f"{len(missing)} public functions lack annotations:\n" + "\n".join(missing)
