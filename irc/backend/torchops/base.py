"""The op → torch mapping: for every IR op, a Python expression over torch.

One table serves both the torch executor (which compiles a function from these expressions and
runs it) and the PyTorch emitter (which writes the same expressions into model.py). A mapping is
`fn(ctx, op) -> str`; `ctx.arg(i)` is the source text of operand i (or "None" if absent), and
`ctx.helper(NAME)` asks for a small helper function (from HELPERS) to be defined beside the code.
"""

from __future__ import annotations

import math

LOWER: dict = {}
HELPERS: dict[str, str] = {}  # name -> source of a function using only torch and F
HELPER_DEPS: dict[str, tuple] = {}

TORCH_DTYPE = {"f16": "torch.float16", "bf16": "torch.bfloat16", "f32": "torch.float32", "f64": "torch.float64",
               "i1": "torch.bool", "i8": "torch.int8", "i16": "torch.int16", "i32": "torch.int32",
               "i64": "torch.int64", "u8": "torch.uint8"}


def lower(*names):
    def deco(fn):
        for n in names:
            full = n if "." in n else "nn." + n
            if full in LOWER:
                raise ValueError(f"torch mapping for {full} defined twice")
            LOWER[full] = fn
        return fn
    return deco


def helper(name: str, source: str, deps=()) -> str:
    HELPERS[name] = source.strip() + "\n"
    HELPER_DEPS[name] = tuple(deps)
    return name


def lit(v) -> str:
    """A Python literal for an attribute value (tuples for lists, so torch gets int tuples)."""
    if isinstance(v, bool) or v is None:
        return repr(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "float('nan')"
        if math.isinf(v):
            return "float('inf')" if v > 0 else "float('-inf')"
        return repr(v)
    if isinstance(v, int):
        return repr(v)
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, (list, tuple)):
        inner = ", ".join(lit(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    raise TypeError(f"no literal for {v!r}")


class Ctx:
    """What a mapping sees: operand expressions and a way to request helpers."""

    def __init__(self, args: list[str]):
        self.args = args
        self.helpers: set[str] = set()

    def arg(self, i: int) -> str:
        return self.args[i] if i < len(self.args) else "None"

    def helper(self, name: str) -> str:
        self.helpers.add(name)
        for dep in HELPER_DEPS.get(name, ()):
            self.helper(dep)
        return name


def expression(ctx: Ctx, op) -> str:
    fn = LOWER.get(op.name)
    if fn is None:
        raise KeyError(f"no torch mapping for {op.name}")
    return fn(ctx, op)
