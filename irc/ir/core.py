"""The IR's objects: tensor types, values, ops, functions and modules.

Nothing here knows about torch or ONNX. Ops are generic (a name, operands, attributes, result
types, an optional source location); what an op *means* lives in the registry (`irc.ir.ops`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

DTYPES = ("f16", "bf16", "f32", "f64", "i1", "i8", "i16", "i32", "i64", "u8")
INT64_MAX = 2**63 - 1  # "to the end" in slice bounds
MAX_RANK = 16  # the rank of a tensor type, at most
DENSE_MAX = 32  # frontends write tensors up to this many elements inline (dense<...>), larger ones as params

_NAME_BAD = re.compile(r"[^A-Za-z0-9_$.\-]+")


def sanitize_name(name: object) -> str:
    """A value name the text format accepts ([A-Za-z0-9_$.-]+) made from any string."""
    name = _NAME_BAD.sub("_", str(name)).strip(".")
    return name or "v"


def uniquify(base: str, taken: set) -> str:
    """`base`, or `base_1`, `base_2`, ... — the first not in `taken`, which is then added to it."""
    name, i = base, 0
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    taken.add(name)
    return name


@dataclass(frozen=True, slots=True)
class TensorType:
    """`tensor<?x3x224x224xf32>`: a shape (None for a dynamic dimension) and an element type."""

    shape: tuple
    dtype: str

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_static(self) -> bool:
        return all(d is not None for d in self.shape)

    def numel(self) -> int | None:
        n = 1
        for d in self.shape:
            if d is None:
                return None
            n *= d
        return n

    def with_shape(self, shape: Iterable[int | None]) -> TensorType:
        return TensorType(tuple(shape), self.dtype)

    def with_dtype(self, dtype: str) -> TensorType:
        return TensorType(self.shape, dtype)

    def __str__(self) -> str:
        dims = "".join(("?" if d is None else str(d)) + "x" for d in self.shape)
        return f"tensor<{dims}{self.dtype}>"


def parse_type(text: str) -> TensorType:
    """Parse `tensor<...>`; raises ValueError with a readable reason. Linear in the length of the text."""
    if not (text.startswith("tensor<") and text.endswith(">")):
        raise ValueError(f"malformed tensor type '{_clip(text)}' (expected e.g. tensor<?x3x224x224xf32>)")
    parts = text[7:-1].split("x")
    dtype, dims = parts[-1], parts[:-1]
    if any(not (d == "?" or (d.isascii() and d.isdigit())) for d in dims) or not dtype:
        raise ValueError(f"malformed tensor type '{_clip(text)}' (expected e.g. tensor<?x3x224x224xf32>)")
    if dtype not in DTYPES:
        raise ValueError(f"unknown element type '{_clip(dtype)}' in '{_clip(text)}' (known: {' '.join(DTYPES)})")
    if len(dims) > MAX_RANK:
        raise ValueError(f"tensor type '{_clip(text)}' has rank {len(dims)}; irc allows at most {MAX_RANK}")
    shape = []
    for d in dims:
        if d == "?":
            shape.append(None)
        elif len(d) > 19 or int(d) > INT64_MAX:
            raise ValueError(f"dimension {_clip(d)} in '{_clip(text)}' does not fit in 64 bits")
        else:
            shape.append(int(d))
    return TensorType(tuple(shape), dtype)


def _clip(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


# ----------------------------------------------------------------------------- locations


@dataclass(frozen=True, slots=True)
class FileLoc:
    file: str
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class NameLoc:
    name: str
    child: object = None  # a location or None


@dataclass(frozen=True, slots=True)
class FusedLoc:
    locs: tuple


@dataclass(frozen=True, slots=True)
class UnknownLoc:
    pass


def fuse_locs(*locs: object) -> FileLoc | NameLoc | FusedLoc | None:
    """A location for an op made from several: `loc(fused[a, b])`, flattened and deduplicated."""
    flat = []
    for loc in locs:
        if loc is None or isinstance(loc, UnknownLoc):
            continue
        for item in loc.locs if isinstance(loc, FusedLoc) else (loc,):
            if item not in flat:
                flat.append(item)
    if not flat:
        return None
    return flat[0] if len(flat) == 1 else FusedLoc(tuple(flat))


def file_locs(loc: object) -> list:
    """Every FileLoc inside a location, in order."""
    if loc is None:
        return []
    if isinstance(loc, FileLoc):
        return [loc]
    if isinstance(loc, NameLoc):
        return file_locs(loc.child)
    if isinstance(loc, FusedLoc):
        return [f for item in loc.locs for f in file_locs(item)]
    return []


# ----------------------------------------------------------------------------- values and ops


class Value:
    """An SSA value: a function argument or one result of an op."""

    __slots__ = ("index", "name", "owner", "pos", "type", "uses")

    def __init__(self, name: str, type: TensorType | None, owner=None, index: int = 0, pos=None):
        self.name = name
        self.type = type
        self.owner = owner  # the defining Op, or None for a function argument
        self.index = index
        self.uses: list = []  # Ops using this value (an op appears once per operand slot)
        self.pos = pos  # (line, col) in the text it was parsed from

    def __repr__(self) -> str:
        return f"%{self.name}"


class Op:
    """`%r = nn.NAME(%a, %b) {attrs} : type loc(...)`. `name` is the full name, e.g. 'nn.conv2d'."""

    __slots__ = ("attrs", "func", "loc", "name", "operand_pos", "operands", "pos", "results", "scope", "type_pos")

    def __init__(self, name, operands=(), attrs=None, result_types=(), result_names=(), loc=None, pos=None):
        self.name = name
        self.operands: list[Value] = []
        self.attrs: dict = dict(attrs or {})
        self.loc = loc
        self.pos = pos  # (line, col) of the op in its text
        self.operand_pos = None  # [(line, col)] of each operand in its text
        self.type_pos = None  # [(line, col)] of each written result type
        self.func = None
        self.scope: tuple = ()  # the Frames of the module calls this op ran in (irc.ir.structure), outermost first
        for v in operands:
            self.operands.append(v)
            v.uses.append(self)
        names = list(result_names) or [""] * len(result_types)
        self.results = [Value(n, t, self, i) for i, (n, t) in enumerate(zip(names, result_types))]

    @property
    def kind(self) -> str:
        """The op's name without its dialect: 'conv2d' for 'nn.conv2d'."""
        return self.name.split(".", 1)[1] if "." in self.name else self.name

    @property
    def result(self) -> Value:
        return self.results[0]

    def set_operand(self, i: int, value: Value) -> None:
        old = self.operands[i]
        old.uses.remove(self)
        self.operands[i] = value
        value.uses.append(self)

    def drop_operands(self) -> None:
        for v in self.operands:
            v.uses.remove(self)
        self.operands = []

    def __repr__(self) -> str:
        res = ", ".join(repr(r) for r in self.results)
        args = ", ".join(repr(a) for a in self.operands)
        return f"{res} = {self.name}({args})" if res else f"{self.name}({args})"


RETURN = "return"


class Func:
    """`func @forward(%x: tensor<...>) -> tensor<...> { ops; return ... }`."""

    def __init__(self, name: str, args: list[Value], result_types: list[TensorType], pos=None,
                 attrs: dict | None = None):
        self.name = name
        self.attrs = dict(attrs or {})  # `attributes {class = "Bottleneck"}`: what the function was in the source
        self.args = args
        self.result_types = list(result_types)
        self.ops: list[Op] = []
        self.ret: Op = Op(RETURN)
        self.ret.func = self
        self.pos = pos
        self.module = None
        self.written_ret_types = None  # the types after `return ... :` in parsed text, checked by the verifier
        self._names: set[str] = {a.name for a in args}

    @property
    def outputs(self) -> list[Value]:
        return self.ret.operands

    def set_outputs(self, values: Iterable[Value]) -> None:
        self.ret.drop_operands()
        for v in values:
            self.ret.operands.append(v)
            v.uses.append(self.ret)

    def unique_name(self, base: str) -> str:
        """`base`, or `base_1`, `base_2`, ... if taken. Registers the name."""
        return uniquify(base or "v", self._names)

    def claim_name(self, name: str) -> bool:
        if name in self._names:
            return False
        self._names.add(name)
        return True

    def append(self, op: Op) -> Op:
        op.func = self
        for r in op.results:
            r.name = self.unique_name(r.name or op.kind)
        self.ops.append(op)
        return op

    def values(self) -> Iterator[Value]:
        yield from self.args
        for op in self.ops:
            yield from op.results

    def rebuild_names(self) -> None:
        self._names = {v.name for v in self.values()}


class Module:
    """`module @name {attrs} { funcs }` plus the weight store its `nn.param` ops read."""

    def __init__(self, name: str, attrs: dict | None = None, funcs=None, weights=None, path=None):
        self.name = name
        self.attrs = dict(attrs or {})
        self.funcs: list[Func] = list(funcs or [])
        self.weights = weights  # irc.ir.weights.WeightStore or None
        self.path = path  # the .ir file this module was read from, if any
        self.source = None  # its text, for diagnostics

    @property
    def main(self) -> Func:
        for f in self.funcs:
            if f.name == "forward":
                return f
        return self.funcs[0]

    def ops(self) -> Iterator[Op]:
        for f in self.funcs:
            yield from f.ops

    def func(self, name: str) -> Func | None:
        """The function named `name` (without its @), or None."""
        return next((f for f in self.funcs if f.name == name), None)


@dataclass(frozen=True, slots=True)
class Frame:
    """One module call an op ran in: `ident` tells calls apart (a module called twice has two), `path` is
    the called module's attribute path under its caller (`layer1`, `0`), `cls` its class name, `sequential`
    whether it runs its children in order (an nn.Sequential)."""

    ident: str
    path: str
    cls: str
    sequential: bool = False


@dataclass(frozen=True)
class DenseAttr:
    """`dense<[...]> : tensor<...>` — a small literal tensor; `values` is a nested list or a scalar (splat)."""

    values: object
    type: TensorType

    @property
    def is_splat(self) -> bool:
        return not isinstance(self.values, list)
