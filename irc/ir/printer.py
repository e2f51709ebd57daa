"""Module → text. The printer is canonical: the same module always prints the same bytes, and
`print_module(parse(text)) == text` for any text this printer wrote."""

from __future__ import annotations

import json
import re

from .core import DenseAttr, FileLoc, FusedLoc, Module, NameLoc, Op, UnknownLoc
from .diagnostics import IrcError
from .ops import ABSENT, OPS

HEADER = "// irc 1\n"
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# what the grammar accepts after @ and % and as an op name: a name set through the API that does not
# fit is refused, never written as text that would read back as something else
_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_$.\-]*")
_VALUE = re.compile(r"[A-Za-z0-9_$.\-]+")
_OPNAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_.]*")


def _name(pattern, name, what: str) -> str:
    if not isinstance(name, str) or not pattern.fullmatch(name):
        raise PrintError(f"cannot print {what} {name!r}: it is not a valid name in the text format")
    return name


def print_module(module: Module, strip_locs: bool = False) -> str:
    out = [HEADER, f"module @{_name(_SYMBOL, module.name, 'module name')}{_attr_dict(module.attrs)} {{\n"]
    for i, func in enumerate(module.funcs):
        if i:
            out.append("\n")
        args = ", ".join(f"%{_name(_VALUE, a.name, 'value name')}: {a.type}" for a in func.args)
        attrs = f" attributes{_attr_dict(func.attrs)}" if func.attrs else ""
        out.append(f"  func @{_name(_SYMBOL, func.name, 'function name')}({args}) -> "
                   f"{_result_types(func.result_types)}{attrs} {{\n")
        for op in func.ops:
            out.append("    " + print_op(op, strip_locs) + "\n")
        rets = func.outputs
        if rets:
            out.append(f"    return {', '.join('%' + v.name for v in rets)} : {', '.join(str(v.type) for v in rets)}\n")
        else:
            out.append("    return\n")
        out.append("  }\n")
    out.append("}\n")
    return "".join(out)


class PrintError(IrcError):
    pass


def _result_types(types) -> str:
    return str(types[0]) if len(types) == 1 else "(" + ", ".join(str(t) for t in types) + ")"


def print_op(op: Op, strip_locs: bool = False) -> str:
    results = ", ".join("%" + _name(_VALUE, r.name, "value name") for r in op.results)
    operands = ", ".join("%" + v.name for v in op.operands)
    text = f"{results} = {_name(_OPNAME, op.name, 'op name')}({operands}){_attr_dict(visible_attrs(op))}"
    if all(r.type is not None for r in op.results):
        text += " : " + ", ".join(str(r.type) for r in op.results)
    if op.loc is not None and not strip_locs:
        text += f" loc({format_loc(op.loc)})"
    return text


def visible_attrs(op: Op) -> dict:
    """The attributes the printer writes: all but optional ones that are absent or at their default."""
    opdef = OPS.get(op.name)
    if opdef is None:
        return op.attrs
    out = {}
    for k, v in op.attrs.items():
        spec = opdef.attrs.get(k)
        if spec is not None and not spec.required and (v is ABSENT or v == spec.default):
            continue
        out[k] = v
    return out


def _attr_dict(attrs: dict) -> str:
    if not attrs:
        return ""
    items = ", ".join(f"{_key(k)} = {format_attr(attrs[k])}" for k in sorted(attrs))
    return " {" + items + "}"


def _key(k: str) -> str:
    return k if _IDENT.fullmatch(k) and k not in ("true", "false") else quote(k)


def quote(s: str) -> str:
    """A double-quoted string literal: UTF-8 kept readable, anything unprintable escaped."""
    text = json.dumps(s, ensure_ascii=False)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" if ord(c) < 0x10000 else json.dumps(c)[1:-1]
                   for c in text)


def format_attr(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return quote(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(format_attr(x) for x in v) + "]"
    if isinstance(v, DenseAttr):
        return f"dense<{_dense_values(v.values, v.type.dtype)}> : {v.type}"
    raise TypeError(f"cannot print attribute value {v!r}")


def _dense_values(v, dtype: str) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_dense_values(x, dtype) for x in v) + "]"
    if dtype.startswith(("f", "bf")):
        return repr(float(v))
    if dtype == "i1":
        return "true" if v else "false"
    return str(int(v))


def format_loc(loc: object) -> str:
    if isinstance(loc, FileLoc):
        return f"{quote(loc.file)}:{loc.line}:{loc.col}"
    if isinstance(loc, NameLoc):
        return quote(loc.name) + (f"({format_loc(loc.child)})" if loc.child is not None else "")
    if isinstance(loc, FusedLoc):
        return "fused[" + ", ".join(format_loc(x) for x in loc.locs) + "]"
    if isinstance(loc, UnknownLoc):
        return "unknown"
    raise TypeError(f"cannot print location {loc!r}")
