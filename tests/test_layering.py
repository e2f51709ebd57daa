"""The layering of DESIGN.md, read from the source with `ast`: data flows frontend → ir → passes → backend.

ir ← formats/passes ← frontends/backends ← runtimes ← check ← tools; tools never import tools (only their private helpers);
no module imports itself back through a chain of module-level imports. The one lazy back-edge allowed is
a pass that computes importing the torch executor inside a function.
"""

from __future__ import annotations

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = os.path.join(ROOT, "irc")

LAYER = {"ir": 0, "fidelity": 0, "formats": 1, "passes": 1, "frontend": 2, "backend": 2, "runtimes": 2.5, "check": 3,
         "bisect": 3.5, "coverage": 3, "tools": 4}
# formats: file-format schemas a frontend and a backend share (Caffe's messages); runtimes: framework runtimes
# that check and bisect run (they may use a frontend to map names); bisect builds on check (its rule and targets)
LAZY_ALLOWED = {("passes", "backend.pytorch.executor"), ("passes", "backend.pytorch")}


def _modules() -> dict[str, str]:
    out = {}
    for dirpath, _, files in os.walk(PKG):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                out[rel.removesuffix(".__init__")] = path
    return out


def _resolve(mod: str, is_pkg: bool, node: ast.ImportFrom | ast.Import, modules) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name == "irc" or a.name.startswith("irc.")]
    base = mod if is_pkg else mod.rsplit(".", 1)[0]
    if node.level:
        parts = base.split(".")
        base = ".".join(parts[: len(parts) - (node.level - 1)])
        target = f"{base}.{node.module}" if node.module else base
    else:
        target = node.module or ""
    if not (target == "irc" or target.startswith("irc.")):
        return []
    out = []
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        out.append(sub if sub in modules else target)
    return out


def _imports():
    """(importer, imported, lazy) for every import of an irc module inside irc/."""
    modules = _modules()
    edges = []
    for mod, path in modules.items():
        tree = ast.parse(open(path, encoding="utf-8").read(), path)
        is_pkg = path.endswith("__init__.py")
        top = set(map(id, tree.body))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _resolve(mod, is_pkg, node, modules):
                    edges.append((mod, target, id(node) not in top))
    return modules, edges


def _area(mod: str) -> str | None:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYER else None


def test_no_back_edges():
    _, edges = _imports()
    bad = []
    for src, dst, lazy in edges:
        a, b = _area(src), _area(dst)
        if a is None or b is None or a == b:
            continue
        if LAYER[b] > LAYER[a] or (LAYER[b] == LAYER[a] and a != b):
            rest = dst.split(".", 1)[-1]
            if lazy and (a, rest) in LAZY_ALLOWED:
                continue
            bad.append(f"{src} imports {dst}{' (lazily)' if lazy else ''}")
    assert not bad, "imports against the layering:\n" + "\n".join(sorted(bad))


def test_tools_never_import_tools():
    _, edges = _imports()
    bad = [f"{s} imports {d}" for s, d, _ in edges
           if s.startswith("irc.tools.") and d.startswith("irc.tools.") and not d.split(".")[-1].startswith("_")]
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    modules, edges = _imports()
    graph: dict[str, set] = {m: set() for m in modules}
    for src, dst, lazy in edges:
        if not lazy and dst in graph and dst != src and not src.startswith(dst + "."):
            graph[src].add(dst)  # (a module importing its own package's __init__ is how packages work)
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycles.append(" -> ".join(stack[stack.index(n):] + [n]))
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_layering_test_sees_a_back_edge(tmp_path, monkeypatch):
    """The checker itself can fail: an ir module importing a backend is reported."""
    fake = tmp_path / "irc"
    (fake / "ir").mkdir(parents=True)
    (fake / "backend").mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "ir" / "__init__.py").write_text("from ..backend import x\n")
    (fake / "backend" / "__init__.py").write_text("")
    (fake / "backend" / "x.py").write_text("from ..ir import y\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", str(tmp_path))
    monkeypatch.setattr(__import__(__name__), "PKG", str(fake))
    try:
        test_no_back_edges()
    except AssertionError as e:
        assert "irc.ir imports irc.backend.x" in str(e)
    else:
        raise AssertionError("a back-edge went unnoticed")
