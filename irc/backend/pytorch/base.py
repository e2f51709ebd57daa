"""The op → torch tables every family file fills, and what their entries see.

`EMITTERS` maps an IR op to a Python expression over torch: `@emits("conv2d")` on
`fn(ctx, op) -> str`. One table serves the torch executor (which compiles a function from these
expressions and runs it) and the model.py emitter (which writes the same expressions). `ctx.arg(i)`
is the source text of operand i (or "None" if absent); `ctx.helper(NAME)` asks for a small helper
function (from `HELPERS`) to be defined beside the code.

`MODULES` maps an IR op to its nn.Module form in model.py: `@module_form("conv2d")` on
`fn(op, params, dtype) -> str | None`, the constructor text (`nn.Conv2d(3, 64, 7, stride=2)`) for an op
whose param operands have the TensorTypes `params`, or None when no nn.* module computes exactly the
op's expression. An op is written as a module call iff this table has it.

How calls read: tensors go positionally; attribute values go by keyword (`stride=(2, 2)`) and are
left out when they equal torch's default, except the one argument of a function of two parameters
(`F.pad(x, (1, 0, 0, 1))`, `F.adaptive_avg_pool2d(x, (1, 1))`) and the sizes right after the tensor
(`torch.split(x, (20, 12), dim=1)`). Ints stay in tuples: `kernel_size=(3, 3)`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ...ir.core import Op
from ...ir.dtypes import TABLE
from ...ir.layout import activation_perm
from ...ir.table import OpTable

EMITTERS = OpTable("torch expression", ir_keys=True)
emits = EMITTERS.register
MODULES = OpTable("nn.Module form", ir_keys=True)
# IR op -> layer(op, inplace) -> the constructor of a parameterless nn.* layer computing it (`nn.ReLU()`), or None:
# how an op is written as one child of an nn.Sequential (irc/backend/pytorch/blocks.py); `inplace`: its input is
# a fresh tensor nothing else reads, which the layer may update (`nn.ReLU(inplace=True)`)
LAYERS = OpTable("parameterless nn layer", ir_keys=True)
HELPERS: dict[str, str] = {}  # name -> source of a function using only torch and F
HELPER_DEPS: dict[str, tuple] = {}


def torch_dtype_text(name: str) -> str:
    """The torch dtype as source text: "f16" → "torch.float16"."""
    return "torch." + TABLE[name].torch


def helper(name: str, source: str, deps: Iterable[str] = ()) -> str:
    HELPERS[name] = source.strip() + "\n"
    HELPER_DEPS[name] = tuple(deps)
    return name


def helper_source(names: Iterable[str]) -> str:
    """Source of the requested helpers and what they depend on, dependencies first, sorted."""
    done: set[str] = set()
    out: list[str] = []

    def add(name: str) -> None:
        if name in done:
            return
        done.add(name)
        for dep in HELPER_DEPS.get(name, ()):
            add(dep)
        out.append(HELPERS[name])

    for name in sorted(names):
        add(name)
    return "\n\n".join(out)


def lit(value: object) -> str:
    """A Python literal for an attribute value (tuples for lists, so torch gets int tuples)."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "float('nan')"
        if math.isinf(value):
            return "float('inf')" if value > 0 else "float('-inf')"
        return repr(value)
    if isinstance(value, (int, str)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        inner = ", ".join(lit(x) for x in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    raise TypeError(f"no literal for {value!r}")


def call(fn: str, *args: str, **kwargs: object) -> str:
    """`fn(args..., key=value...)`: keyword values are literals (`lit`), or source text when given as
    `Src`; a keyword whose value is `DEFAULT` is left out."""
    parts = list(args)
    for key, value in kwargs.items():
        if value is DEFAULT:
            continue
        parts.append(f"{key}={value.text if isinstance(value, Src) else lit(value)}")
    return f"{fn}({', '.join(parts)})"


class Src:
    """Source text to pass to `call` as a keyword value as is (an operand, an expression)."""

    def __init__(self, text: str):
        self.text = text


DEFAULT = object()  # a keyword value equal to torch's default: `call` leaves it out


# while True, arguments at torch's default are written out too: blocks.py writes the classes of one source
# class so, when leaving them out makes two instances' code differ by more than their literals
SPELL_DEFAULTS = [False]


def unless(value: object, default: object) -> object:
    """`value`, or DEFAULT when it equals torch's `default` (so `call` leaves it out)."""
    return DEFAULT if value == default and not SPELL_DEFAULTS[0] else value


def keyword_text(text: str, is_default: bool) -> str | None:
    """A constructor keyword's text, or None (left out) at torch's default."""
    return None if is_default and not SPELL_DEFAULTS[0] else text


class Ctx:
    """What an emitter sees: operand expressions and a way to request helpers."""

    def __init__(self, args: list[str]):
        self.args = args
        self.helpers: set[str] = set()

    def arg(self, index: int) -> str:
        return self.args[index] if index < len(self.args) else "None"

    def tensors(self, first: int, last: int) -> list[str]:
        """Operands first..last as positional arguments, without trailing absent ones."""
        out = [self.arg(i) for i in range(first, last + 1)]
        while out and out[-1] == "None":
            out.pop()
        return out

    def helper(self, name: str) -> str:
        self.helpers.add(name)
        for dep in HELPER_DEPS.get(name, ()):
            self.helper(dep)
        return name


def expression(ctx: Ctx, op: Op) -> str:
    """The torch expression computing `op` from the operands in `ctx`."""
    fn = EMITTERS.lookup(op.name)
    if fn is None:
        raise KeyError(f"no torch mapping for {op.name}")
    return fn(ctx, op)


# ----------------------------------------------------------------------------- nn.Module forms


def default_call(ctx: Ctx, op: Op, module: str) -> str:
    return f"{module}({ctx.arg(0)})"


def default_targets(outs: list[str]) -> str:
    return ", ".join(outs)


@dataclass(frozen=True)
class ModuleForm:
    """An op written as an nn.* module: `ctor(op, params, dtype)` gives its constructor text (or None;
    `dtype` is the text of the params' float dtype, None for f32),
    `call(ctx, op, module)` the call in forward, `targets(outs)` what the call's results unpack into,
    `extra_state` the state_dict suffixes the module holds beyond the op's params."""

    ctor: Callable
    call: Callable = default_call
    targets: Callable = default_targets
    extra_state: tuple = ()


def module_form(*names: str, call: Callable = default_call, targets: Callable = default_targets,
                extra_state: tuple = ()) -> Callable:
    """Register the decorated constructor function as the nn.Module form of the ops `names`."""
    def deco(ctor: Callable) -> Callable:
        MODULES.register(*names)(ModuleForm(ctor, call, targets, extra_state))
        return ctor
    return deco


def pair(values: Iterable[int]) -> str:
    """An nn.* constructor's int-or-tuple argument: `3` for (3, 3), `(3, 1)` otherwise."""
    values = list(values)
    return str(values[0]) if len(values) == 2 and values[0] == values[1] else f"({', '.join(str(x) for x in values)})"


def ctor_keywords(items: Iterable[tuple[str, object]]) -> str:
    """`, key=value` for each pair whose value is not None (values are source text)."""
    return "".join(f", {key}={value}" for key, value in items if value is not None)


def in_nchw(op: Op, x: str, body: Callable[[str], str]) -> str:
    """`body(x)` (an NCHW expression) for an op in its own layout: an nhwc op permutes in and back out."""
    layout = op.attrs["layout"]
    if layout == "nchw":
        return body(x)
    rank = op.operands[0].type.rank
    into, back = activation_perm(layout, "nchw", rank), activation_perm("nchw", layout, rank)
    return f"{body(f'{x}.permute{lit(into)}')}.permute{lit(back)}"
