"""Class texts alike but for literals, written as one class (irc/backend/pytorch/blocks.py): the literals that
differ become constructor arguments named after where they stand (`conv1_out_channels`, `conv2_stride`), literals
that always vary together share one, and nn.* keywords that SPELL_DEFAULTS wrote at torch's default are dropped
again where no instance changes them."""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import keyword
import re
import tokenize
from collections.abc import Iterator

from .base import SPELL_DEFAULTS
from .names import sanitize

LITERAL_NAMES = ("True", "False", "None")


def literals(text: str) -> list[tuple]:
    """The tokens of `text`, each (kind, string, start, end); kind "lit" for a number (a negative one in one
    token), True, False or None."""
    out: list[tuple] = []
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT,
                        tokenize.ENDMARKER):
            continue
        if tok.type == tokenize.NUMBER or (tok.type == tokenize.NAME and tok.string in LITERAL_NAMES):
            if out and out[-1][1] == "-" and len(out) > 1 and out[-2][1] in ("(", ",", "=", "["):
                _, _, start, _ = out.pop()
                out.append(("lit", "-" + tok.string, start, tok.end))
            else:
                out.append(("lit", tok.string, tok.start, tok.end))
        else:
            out.append(("tok", tok.string, tok.start, tok.end))
    return out


def skeleton(tokens: list[tuple]) -> tuple:
    return tuple("<lit>" if kind == "lit" else s for kind, s, _, _ in tokens)


def _param_name(tokens: list[tuple], i: int, signatures: dict[str, list[str]]) -> str:
    """A name for the literal at `i`: the keyword it is passed as, or the parameter of the call it is in,
    after the attribute the line assigns (`conv2_stride`, `conv1_in_channels`)."""
    depth, commas, keyword_name, callee = 0, 0, None, None
    j = i - 1
    while j >= 0:
        s = tokens[j][1]
        if s in (")", "]"):
            depth += 1
        elif s in ("(", "["):
            if depth == 0:
                if s == "(" and j > 0 and tokens[j - 1][0] == "tok" and tokens[j - 1][1].isidentifier():
                    callee = _dotted(tokens, j - 1)
                    break
                commas, keyword_name = 0, keyword_name  # a tuple: its call is further out
            else:
                depth -= 1
        elif depth == 0 and s == "," and keyword_name is None:
            commas += 1
        elif depth == 0 and s == "=" and keyword_name is None and j > 0 and tokens[j - 1][1].isidentifier():
            keyword_name = tokens[j - 1][1]
        j -= 1
    line = tokens[i][2][0]
    starts = [t for t in tokens if t[2][0] == line] or tokens[j:j + 3]
    attr = starts[2][1] if len(starts) > 2 and starts[0][1] == "self" and starts[1][1] == "." else ""
    if keyword_name is None and callee is not None:
        params = signatures.get(callee) or _signature(callee)
        keyword_name = params[commas] if commas < len(params) else f"{callee.rpartition('.')[2]}_{commas}"
    base = "_".join(x for x in (attr, keyword_name or "value") if x)
    return sanitize(base.lower() if base.isupper() else base)


def _dotted(tokens: list[tuple], j: int) -> str:
    parts = [tokens[j][1]]
    while j >= 2 and tokens[j - 1][1] == "." and tokens[j - 2][1].isidentifier():
        parts.insert(0, tokens[j - 2][1])
        j -= 2
    return ".".join(parts)


def _signature(callee: str) -> list[str]:
    if not callee.startswith("nn."):
        return []
    import torch

    cls = getattr(torch.nn, callee[3:], None)
    try:
        return [p for p in inspect.signature(cls).parameters if p not in ("self", "args", "kwargs")] if cls else []
    except (TypeError, ValueError):
        return []


def merge(texts: list[str], signatures: dict[str, list[str]], reserved: set[str]) -> list[tuple[list, list]]:
    """Group class texts alike but for literals: [(indices of the texts in the group (the first is written),
    [(argument name, its literal in each of them, the positions of its tokens in the first)])]. `signatures`:
    the argument names of classes written already (a child's constructor call names its arguments)."""
    clusters: dict[tuple, list[int]] = {}
    toks = [literals(t) for t in texts]
    for i, t in enumerate(toks):
        clusters.setdefault(skeleton(t), []).append(i)
    out = []
    for members in clusters.values():
        first = toks[members[0]]
        lits = [k for k, tok in enumerate(first) if tok[0] == "lit"]
        vectors: dict[tuple, list[int]] = {}
        for k in lits:
            vec = tuple(toks[m][k][1] for m in members)
            if len(set(vec)) > 1:
                vectors.setdefault(vec, []).append(k)
        taken = set(reserved) | set(re.findall(r"self\.(\w+)", texts[members[0]]))  # its attributes
        names = []
        for vec, positions in vectors.items():
            name = _param_name(first, positions[0], signatures)
            if keyword.iskeyword(name) or name in taken:
                name = f"{name}_"
            while name in taken:
                name += "_"
            taken.add(name)
            names.append((name, vec, positions))
        out.append((members, names))
    return out


def substitute(text: str, names: list[tuple]) -> str:
    """`text` with the literal tokens at each argument's positions replaced by the argument's name; in forward,
    by `self.NAME`, which __init__ then sets (`self.groups = groups`)."""
    tokens = literals(text)
    lines = text.split("\n")
    forward = next(i for i, ln in enumerate(lines) if ln.startswith("    def forward(")) + 1
    kept = []
    edits = sorted(((tokens[k][2], tokens[k][3], name) for name, _, positions in names for k in positions),
                   reverse=True)
    for (row, col), (erow, ecol), name in edits:
        if row != erow:
            raise ValueError("a literal over two lines")
        if row > forward:
            kept.append(name)
            name = f"self.{name}"
        lines[row - 1] = lines[row - 1][:col] + name + lines[row - 1][ecol:]
    init = next(i for i, ln in enumerate(lines) if ln.strip() == "super().__init__()") + 1
    for name in sorted(set(kept), reverse=True):
        lines.insert(init, f"        self.{name} = {name}")
    return "\n".join(lines)


@contextlib.contextmanager
def spelled() -> Iterator[None]:
    SPELL_DEFAULTS[0] = True
    try:
        yield
    finally:
        SPELL_DEFAULTS[0] = False


def drop_defaults(text: str) -> str:
    """`text` without the `, keyword=value` of nn.* constructors whose value is a literal at torch's default
    (what SPELL_DEFAULTS wrote and no instance changes)."""
    tree = ast.parse(text)
    lines = text.split("\n")
    cuts = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "nn"):
            continue
        defaults = _defaults(node.func.attr)
        for kw in node.keywords:
            value = _literal(kw.value)
            if kw.arg in defaults and value is not None and value == defaults[kw.arg] \
                    and kw.lineno == kw.end_lineno:
                cuts.append((kw.lineno, kw.col_offset, kw.end_col_offset))
    for row, col, end in sorted(cuts, reverse=True):
        line = lines[row - 1]
        start = line.rstrip()[:col].rstrip().rstrip(",")
        start = line[:len(start)] if line[:col].rstrip().endswith(",") else line[:col]
        lines[row - 1] = start + line[end:]
    return "\n".join(lines)


def _literal(node: ast.AST) -> object:
    """The value of a constant or a tuple of equal constants (`(1, 1)` is torch's `1`), else None."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Tuple) and node.elts and all(isinstance(e, ast.Constant) for e in node.elts):
        values = {e.value for e in node.elts}
        return values.pop() if len(values) == 1 else None
    return None


def _defaults(cls: str) -> dict:
    import torch

    try:
        params = inspect.signature(getattr(torch.nn, cls)).parameters
    except (AttributeError, TypeError, ValueError):
        return {}
    return {k: p.default for k, p in params.items()
            if p.default is not inspect.Parameter.empty and isinstance(p.default, (int, float, bool))}
