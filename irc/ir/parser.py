"""Text → Module. The syntax lives in irc/grammar/irc.lark; this file only builds objects from it."""

from __future__ import annotations

import gc
import json
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from .core import (
    INT64_MAX,
    DenseAttr,
    FileLoc,
    Func,
    FusedLoc,
    Module,
    NameLoc,
    Op,
    UnknownLoc,
    Value,
    _clip,
    parse_type,
)
from .dense import check_dense
from .diagnostics import Diagnostic, DiagnosticError
from .ops import OPS, ShapeError
from .ops.registry import fill_defaults, infer_types, normalize_attrs

if TYPE_CHECKING:
    from .weights import WeightStore


def grammar_path() -> Path:
    """irc/grammar/irc.lark, the one file that defines the syntax (in a checkout and in an installed wheel)."""
    return Path(__file__).resolve().parents[1] / "grammar" / "irc.lark"


class _Err(Exception):
    def __init__(self, message, pos):
        super().__init__(message)
        self.message, self.pos = message, pos


MAX_DEPTH = 32  # nesting of attribute lists, dense literals and locations


def _pos(tok):
    return (tok.line, tok.column)


@v_args(inline=True)
class _ToTree(Transformer):
    """Inline transformer: runs while the LALR parser reduces, so no parse tree is ever built."""

    def int(self, tok):
        text = str(tok).lstrip("+-")
        if len(text) > 19 or not -2**63 <= int(tok) <= INT64_MAX:
            raise _Err(f"integer {_clip(str(tok))} does not fit in 64 bits", _pos(tok))
        return int(tok)

    def float(self, tok):
        return float(tok)

    def string(self, tok):
        return _unquote(tok)

    def true(self, _):
        return True

    def false(self, _):
        return False

    def int_list(self, tok):
        return json.loads(str(tok))

    def list(self, *items):
        return [] if items == (None,) else list(items)

    def dense(self, kw, body, ty):
        dense = DenseAttr(body, _type(ty))
        problem = check_dense(dense)
        if problem:
            raise _Err(problem, _pos(kw))
        return dense

    def attr(self, key, value):
        if _too_deep(value):
            raise _Err(f"attribute value nests deeper than {MAX_DEPTH} levels", _pos(key))
        return (_unquote(key) if key.type == "STRING" else str(key), value, _pos(key))

    def attr_dict(self, *attrs):
        out = {}
        for item in attrs:
            if item is None:
                continue
            key, value, pos = item
            if key in out:
                raise _Err(f"attribute '{key}' is given twice", pos)
            out[key] = value
        return out

    def file_loc(self, f, line, col):
        return FileLoc(_unquote(f), _line_number(line), _line_number(col))

    def name_loc(self, name, child):
        return NameLoc(_unquote(name), child)

    def name_only_loc(self, name):
        return NameLoc(_unquote(name))

    def fused_loc(self, *locs):
        return FusedLoc(tuple(locs))

    def unknown_loc(self):
        return UnknownLoc()

    def loc(self, body):
        if isinstance(body, Token):  # SIMPLE_LOC: loc("file.py":12:8)
            f, line, col = str(body)[4:-1].rsplit(":", 2)
            return FileLoc(_decode(f, (body.line, body.column + 4)), _line_number(line, body), _line_number(col, body))
        return body

    def type_list(self, *types):
        return [(_type(t), t) for t in types]

    def result_types(self, *types):
        return [_type(t) for t in types if t is not None]

    def arg(self, name, ty):
        return (name, _type(ty))

    def op(self, *items):
        results, operands, attrs, types, loc = [], [], {}, None, None
        i = 0
        while items[i].type == "VALUE":
            results.append(items[i])
            i += 1
        opname = items[i]
        if items and not isinstance(items[-1], (Token, dict, list)) and items[-1] is not None and _too_deep(items[-1]):
            raise _Err(f"location nests deeper than {MAX_DEPTH} levels", _pos(results[0]))
        for item in items[i + 1:]:
            if isinstance(item, Token):
                operands.append(item)
            elif item is None:
                continue
            elif isinstance(item, dict):
                attrs = item
            elif isinstance(item, list):
                types = item
            else:
                loc = item
        return ("op", results, opname, operands, attrs, types, loc)

    def ret(self, kw, *items):  # the `return` rule
        operands = [t for t in items if isinstance(t, Token)]
        types = next((t for t in items if isinstance(t, list)), None)
        return ("return", kw, operands, types)

    def func_attrs(self, attrs):
        return ("attributes", attrs)

    def func(self, name, *items):
        items = [i for i in items if i is not None]
        args = [i for i in items if isinstance(i, tuple) and len(i) == 2 and i[0] != "attributes"]
        attrs = next((i[1] for i in items if isinstance(i, tuple) and i[0] == "attributes"), None)
        result_types = next(i for i in items if isinstance(i, list))
        body = [i for i in items if isinstance(i, tuple) and len(i) > 2]
        return (name, args, result_types, body, attrs or {})

    def module(self, name, *items):
        attrs = next((i for i in items if isinstance(i, dict)), {})
        funcs = [i for i in items if isinstance(i, tuple)]
        return (name, attrs, funcs)

    def start(self, module):
        return module


@contextmanager
def _gc_paused():
    """Building a large module makes many objects and no garbage; the cyclic GC's repeated scans of
    them cost a third of the time on big files, so it waits until the module is built."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _type(tok):
    try:
        return parse_type(str(tok))
    except ValueError as e:
        raise _Err(str(e), _pos(tok)) from None


def _unquote(tok) -> str:
    return _decode(str(tok), _pos(tok))


def _decode(literal: str, pos) -> str:
    """A string literal's value by JSON's rule (the escapes the printer writes); a bad escape or a raw
    control character is a diagnostic at its column."""
    try:
        return json.loads(literal)
    except json.JSONDecodeError as e:
        raise _Err(f"invalid string literal: {e.msg}", (pos[0], pos[1] + e.pos)) from None


def _line_number(tok, where=None) -> int:
    if len(str(tok)) > 12:
        where = where if where is not None else tok
        raise _Err(f"location number {_clip(str(tok))} is too large", _pos(where))
    return int(tok)


def _too_deep(value) -> bool:
    """True when `value` (lists, dense literals, locations) nests deeper than MAX_DEPTH; iterative, so a
    hostile nesting never reaches Python's recursion limit, and it stops at the limit."""
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(v, DenseAttr):
            v = v.values
        if isinstance(v, list):
            stack.extend((x, depth + 1) for x in v if isinstance(x, (list, DenseAttr)))
        elif isinstance(v, NameLoc) and v.child is not None:
            stack.append((v.child, depth + 1))
        elif isinstance(v, FusedLoc):
            stack.extend((x, depth + 1) for x in v.locs)
    return False


@lru_cache(maxsize=1)
def _parser() -> Lark:
    # no cache file: Lark's cache is a pickle, and a planted one would run code; building the LALR tables
    # takes about 30 ms, once per process
    return Lark(grammar_path().read_text(), parser="lalr", transformer=_ToTree(), maybe_placeholders=True)



_TOKEN_NAMES = {
    "VALUE": "a value name like %x", "TYPE": "a tensor type like tensor<1x3xf32>", "OPNAME": "an op name like nn.relu",
    "SYMBOL": "a symbol name like @forward", "IDENT": "an attribute name", "STRING": "a string", "INT": "an integer",
    "FLOAT": "a number", "LBRACE": "'{'", "RBRACE": "'}'", "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'",
    "COMMA": "','", "COLON": "':'", "EQUAL": "'='", "MORETHAN": "'>'", "RETURN": "'return'", "FUNC": "'func'",
    "MODULE": "'module'", "SIMPLE_LOC": "'loc'", "INT_LIST": "'['", "INT_LIST2": "'['", "DENSE": "'dense<'",
    "TRUE": "true", "FALSE": "false", "LOC": "'loc'", "ATTRIBUTES": "'attributes'", "__ANON_0": "'->'",
    "$END": "end of file",
}


def _expected(names) -> str:
    shown = sorted({_TOKEN_NAMES.get(n, n.lower()) for n in names})
    if len(shown) > 6:
        shown = shown[:6] + ["..."]
    return ", ".join(shown)


def _syntax_error(e: UnexpectedInput, text: str) -> Diagnostic:
    if isinstance(e, UnexpectedEOF) or (isinstance(e, UnexpectedToken) and e.token.type == "$END"):
        lines = text.splitlines() or [""]
        pos = (len(lines), len(lines[-1]) + 1)
        return Diagnostic(f"unexpected end of file (the text is truncated?); expected {_expected(e.expected)}", pos)
    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else "?"
        what = repr(ch) if ch.isprintable() else f"byte {ord(ch):#04x}"
        msg = f"unexpected character {what}"
        if e.allowed:
            msg += f"; expected {_expected(e.allowed)}"
        return Diagnostic(msg, (e.line, e.column))
    tok = e.token
    kind = {"VALUE": "value ", "TYPE": "type ", "OPNAME": "op name ", "IDENT": "name ", "STRING": "string ",
            "INT": "number ", "FLOAT": "number ", "SYMBOL": "symbol "}.get(tok.type, "")
    return Diagnostic(f"unexpected {kind}'{tok}'; expected {_expected(e.expected)}", (tok.line, tok.column))


def parse(text: str, path: str | None = None, weights: WeightStore | None = None,
          allow_outside_weights: bool = False) -> Module:
    """Parse IR text into a Module. SSA errors are reported together; types left out are inferred.

    `weights` is a WeightStore; when None and the module names a weight file in the folder of `path`, it is
    opened lazily (nothing is read but the file's header). A weight file outside that folder is refused
    unless `allow_outside_weights`.
    """
    if "\x00" in text:
        raise DiagnosticError([Diagnostic("this is not IR text: it contains NUL bytes (a binary file?)")], path)
    if not text.strip():
        raise DiagnosticError([Diagnostic("empty file: expected 'module @name { ... }'", (1, 1))], path)
    if all(not ln.strip() or ln.strip().startswith("//") for ln in text.splitlines()):
        raise DiagnosticError([Diagnostic("the file holds only comments: expected 'module @name { ... }'", (1, 1))],
                              path)
    try:
        with _gc_paused():
            name, attrs, funcs = _parser().parse(text)
    except _Err as e:
        raise DiagnosticError([Diagnostic(e.message, e.pos)], path, text) from None
    except UnexpectedInput as e:
        raise DiagnosticError([_syntax_error(e, text)], path, text) from None
    module = Module(str(name)[1:], attrs, path=path)
    module.source = text
    if weights is None and isinstance(attrs.get("weights"), str):
        from .weights import WeightStore, resolve_weights_path

        weights = WeightStore.open(resolve_weights_path(path, attrs["weights"], allow_outside_weights))
    module.weights = weights
    diags: list[Diagnostic] = []
    with _gc_paused():
        for f in funcs:
            module.funcs.append(_build_func(f, module, diags))
    if diags:
        raise DiagnosticError(diags, path, text)
    return module


class _Scope:
    """The values of one function while it is built: definitions, and uses of names not defined (yet)."""

    def __init__(self, diags):
        self.env: dict[str, Value] = {}
        self.undefined = []
        self.diags = diags

    def define(self, v, tok):
        first = self.env.get(v.name)
        if first is not None and first.pos != _pos(tok):
            self.diags.append(Diagnostic(f"value %{v.name} is defined twice", _pos(tok),
                                         notes=[(first.pos, "first defined here")]))
        v.pos = _pos(tok)
        self.env[v.name] = v

    def lookup(self, tok):
        v = self.env.get(tok[1:])
        if v is None:
            self.undefined.append(tok)
            v = Value(tok[1:], None)  # a stand-in so that building can go on; not entered in env
        return v

    def report_undefined(self):
        for tok in self.undefined:
            later = self.env.get(tok[1:])
            if later is not None:
                self.diags.append(Diagnostic(f"value %{tok[1:]} is used before it is defined", _pos(tok),
                                             notes=[(later.pos, "defined here")]))
            else:
                self.diags.append(Diagnostic(f"use of undefined value %{tok[1:]}", _pos(tok)))


def _build_func(parsed, module, diags) -> Func:
    name_tok, args, result_types, body, attrs = parsed
    scope = _Scope(diags)
    arg_values = []
    for tok, ty in args:
        v = Value(tok[1:], ty)
        scope.define(v, tok)
        arg_values.append(v)
    func = Func(str(name_tok)[1:], arg_values, result_types, pos=_pos(name_tok), attrs=attrs)
    func.module = module
    for item in body:
        if item[0] == "return":
            _build_return(func, item, scope)
        else:
            func.ops.append(_build_op(func, item, scope, module, diags))
    scope.report_undefined()
    diags.sort(key=lambda d: d.pos or (0, 0))
    func.rebuild_names()
    return func


def _build_return(func, item, scope):
    _, kw, operands, types = item
    func.set_outputs([scope.lookup(t) for t in operands])
    func.ret.pos = _pos(kw)
    func.ret.operand_pos = [_pos(t) for t in operands]
    if types is not None:
        func.written_ret_types = [t for t, _ in types]
        func.ret.type_pos = [_pos(tok) for _, tok in types]


def _build_op(func, item, scope, module, diags) -> Op:
    _, results, opname, operands, attrs, types, loc = item
    in_values = [scope.lookup(t) for t in operands]
    pos = _pos(results[0])
    result_types = [t for t, _ in types] if types is not None else None
    if result_types is None:
        result_types = _infer_for_parser(str(opname), in_values, attrs, module, len(results), pos, diags)
    elif len(result_types) != len(results):
        diags.append(Diagnostic(f"{opname} has {len(results)} results but {len(result_types)} result types", pos))
        result_types = (result_types + [None] * len(results))[: len(results)]
    op = Op(str(opname), in_values, fill_defaults(str(opname), attrs), result_types, [r[1:] for r in results], loc,
            pos)
    op.operand_pos = [_pos(t) for t in operands]
    op.func = func
    for r, tok in zip(op.results, results):
        scope.define(r, tok)
    if types is not None:
        op.type_pos = [_pos(tok) for _, tok in types]
    return op


def _infer_for_parser(opname, in_values, attrs, module, nresults, pos, diags):
    """A result type left out of the text: infer it from the operands, or from the weight file for nn.param."""
    opdef = OPS.get(opname)
    if opdef is None:
        diags.append(Diagnostic(f"unknown op '{opname}' needs its result type written out", pos))
        return [None] * nresults
    try:
        full = normalize_attrs(opdef, attrs)
        if opname == "nn.call":  # the callee's result types, filled in by the verifier
            return [None] * nresults
        if opname == "nn.param":
            key = full["key"]
            if module.weights is None or not module.weights.has(key):
                raise ShapeError(f"cannot infer the type of nn.param '{key}': it is not in the weight file")
            return [module.weights.type_of(key)]
        if any(v.type is None for v in in_values):
            return [None] * nresults
        return infer_types(opdef, [v.type for v in in_values], full)
    except ShapeError as e:
        diags.append(Diagnostic(f"cannot infer the result type of {opname}: {e}", pos))
        return [None] * nresults
    except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError, OverflowError):
        return [None] * nresults  # sizes a block leaves open (`?`): the verifier infers them per instance


__all__ = ["grammar_path", "parse"]
