"""The Keras emitter driver: one `KerasEmitter` walks the IR function and writes the body of `build_model()`,
one statement per IR op, keeping the weights each Keras layer gets.

Each IR op is emitted by its family's function in `EMITTERS` (`@emits("conv2d")`), called as `fn(emitter, op)`;
it reads its operands through `emitter.tensor(value)` (a Python expression) or `emitter.constant(value)` (the
NumPy array of a param or constant, for layer weights) and binds the op's results with `emitter.layer(...)`
(a `keras.layers` call), `emitter.ops(...)` (a `keras.ops` call) or `emitter.alias(...)`. The driver names
no op: it asks the table. Every op it cannot write is collected, and all of them are reported at once.

Names: every Python variable and Keras layer name is an ASCII identifier made from the IR value it computes
(`%layer1.0.conv1` → `layer1_0_conv1`, which `irc.runtimes.keras` maps back); nothing from the model reaches
the code unsanitised.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ...ir import IrcError, Module, Op, Value
from ...ir.core import uniquify
from ...ir.dense import dense_values
from ...ir.ops import OPS
from ...ir.table import OpTable
from ..gaps import refuse_unmapped

EMITTERS = OpTable("Keras emitter", ir_keys=True)  # "nn.conv2d" -> fn(emitter, op)
emits = EMITTERS.register

INLINE_MAX = 64  # a param or constant up to this many elements is written into model.py as a NumPy literal
WEIGHT_LAYER = "IrcWeight"  # the custom layer model.py defines for a larger param read as a tensor
# names model.py defines or uses at module level: never a variable's
RESERVED = {"keras", "np", "os", "build_model", "load", "CUSTOM_OBJECTS", WEIGHT_LAYER, "float"}


class NotEmittable(Exception):
    """This op, in this form, has no Keras mapping (the message says why)."""


@dataclass
class Line:
    """One statement of build_model(): `targets = rhs`, or `targets = callee(args, name=...)(inputs)` for a
    layer (its `name` is settled when the code is written, `weights` go to the layer after it is built)."""

    targets: list[str]
    rhs: str = ""
    callee: str = ""
    args: list[str] = field(default_factory=list)
    inputs: str = ""
    name: str | None = None
    weights: list[np.ndarray] | None = None


def ident(raw: str) -> str:
    """Any string → an ASCII identifier (`[A-Za-z_][A-Za-z0-9_]*`, not a keyword)."""
    s = re.sub(r"[^A-Za-z0-9_]+", "_", raw.encode("ascii", "replace").decode()).strip("_") or "v"
    if s[0].isdigit():
        s = "v" + s
    if keyword.iskeyword(s) or keyword.issoftkeyword(s):
        s += "_"
    return s


def lit(value: object) -> str:
    """A Python literal for a small attribute value (ints, floats, bools, strings, tuples/lists of them)."""
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return f'float("{value}")'
        return repr(value)
    if isinstance(value, (list, tuple)):
        inner = ", ".join(lit(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, (bool, int, str)) or value is None:
        return repr(value)
    if isinstance(value, np.generic):
        return lit(value.item())
    raise TypeError(f"no literal for {type(value).__name__}")


def array_literal(arr: np.ndarray) -> str:
    """`np.array([...], dtype="float32")` for a small array (floats written exactly)."""
    arr = np.asarray(arr)
    if arr.size and (arr == arr.ravel()[0]).all():
        return f"np.full({lit(arr.shape)}, {lit(arr.ravel()[0].item())}, dtype={arr.dtype.name!r})"
    return f"np.array({_nested(arr.tolist())}, dtype={arr.dtype.name!r})"


def _nested(values: object) -> str:
    if isinstance(values, list):
        return "[" + ", ".join(_nested(v) for v in values) + "]"
    return lit(values)


class KerasEmitter:
    """The statements of build_model() for one module, with the weights of each layer."""

    def __init__(self, module: Module):
        self.module = module
        self.func = module.main
        self.taken = set(RESERVED)
        self.vars: dict[int, str] = {}
        self.lines: list[Line] = []
        self.op_names: set[str] = set()  # keras.ops auto-names ("add"): no layer may be called like them
        self.uses_weight_layer = False
        self.errors: list[tuple[Op, str]] = []
        self.failed: set[int] = set()  # the values of ops that could not be written
        self.inputs: list[tuple[str, Value]] = []

    # -- what handlers use

    def tensor(self, value: Value) -> str:
        """The Python expression of `value` (a param or constant is written on first use)."""
        if id(value) not in self.vars:
            self._materialize(value)
        return self.vars[id(value)]

    def constant(self, value: Value) -> np.ndarray | None:
        """The NumPy array of a param or constant operand, else None."""
        owner = value.owner
        if owner is None:
            return None
        if owner.name == "nn.param":
            return np.asarray(self.module.weights.numpy(owner.attrs["key"]))
        opdef = OPS[owner.name]
        if opdef.has("movement") and not owner.operands and "value" in owner.attrs:  # nn.constant
            return dense_values(owner.attrs["value"])
        return None

    def weight(self, value: Value, what: str = "the weight") -> np.ndarray:
        """The array of an operand a Keras layer keeps as a weight; it must be a param or constant."""
        arr = self.constant(value)
        if arr is None:
            raise NotEmittable(f"{what} (%{value.name}) is computed, not a param: Keras layers keep weights")
        return arr

    def layer(self, op: Op, callee: str, args: Iterable[str], inputs: str | Sequence[str],
              weights: list[np.ndarray] | None = None, targets: int = 1) -> list[str]:
        """Bind `op`'s results to `keras.layers.CALLEE(ARGS, name=...)(INPUTS)`; `weights` are set on the layer
        after the model is built (in Keras' order). `targets` > 1 unpacks several layer outputs."""
        name = self.layer_name(op)
        inputs = inputs if isinstance(inputs, str) else "[" + ", ".join(inputs) + "]"
        outs = self._targets(op, name, targets, claimed=True)
        self.lines.append(Line(outs, callee=callee, args=list(args), inputs=inputs, name=name, weights=weights))
        return outs

    def ops(self, op: Op, fn: str, *args: str, auto_name: str | None = None, **kwargs: object) -> str:
        """Bind `op`'s result to `keras.ops.FN(ARGS, KEY=VALUE...)` (values as literals)."""
        text = ", ".join(list(args) + [f"{k}={lit(v)}" for k, v in kwargs.items()])
        return self.expr(op, f"keras.ops.{fn}({text})", auto_name or fn.rsplit(".", 1)[-1])

    def expr(self, op: Op, rhs: str, auto_name: str, results: int = 1) -> str:
        """Bind `op`'s first `results` results to the expression `rhs`, which Keras names `auto_name`(_N)."""
        self.op_names.add(auto_name)
        outs = self._targets(op, op.results[0].name, results)
        self.lines.append(Line(outs, rhs=rhs))
        return outs[0]

    def assign(self, base: str, rhs: str, auto_name: str | None = None) -> str:
        """A helper statement `NAME = RHS` (not an IR result); returns the variable."""
        if auto_name:
            self.op_names.add(auto_name)
        var = self.fresh(base)
        self.lines.append(Line([var], rhs=rhs))
        return var

    def helper_layer(self, base: str, callee: str, args: Iterable[str], inputs: str) -> str:
        """A layer of its own that is no IR op (the ZeroPadding2D before a conv): `NAME = CALLEE(...)(INPUTS)`."""
        var = self.fresh(base)
        self.lines.append(Line([var], callee=callee, args=list(args), inputs=inputs, name=var))
        return var

    def bind(self, value: Value, expr: str) -> None:
        """`value` (a result of an op being written) is `expr`."""
        self.vars[id(value)] = expr

    def alias(self, op: Op, expr: str) -> None:
        """`op`'s result is `expr` itself (an op that does nothing at inference)."""
        self.vars[id(op.results[0])] = expr

    def fresh(self, raw: str) -> str:
        return uniquify(ident(raw), self.taken)

    def layer_name(self, op: Op) -> str:
        """A layer's name (and its variable's): its first result's IR name as an identifier."""
        return self.fresh(op.results[0].name)

    # -- the walk

    def run(self) -> None:
        """Write every op; raise one IrcError naming every op that has no Keras form."""
        self._refuse_unmapped()
        for arg in self.func.args:
            var = self.fresh(arg.name)
            self.vars[id(arg)] = var
            self.inputs.append((var, arg))
        for op in self.func.ops:
            if op.name == "nn.param":
                continue  # written where first read (or never, when a layer keeps it as a weight)
            if any(id(v) in self.failed for v in op.operands):
                self.failed.update(id(r) for r in op.results)  # reported at its cause
                continue
            try:
                EMITTERS[op.name](self, op)
            except NotEmittable as e:
                self.errors.append((op, str(e)))
                self.failed.update(id(r) for r in op.results)
        if self.errors:
            lines = [f"cannot emit {self.module.name} as Keras: {len(self.errors)} op(s) have no Keras form; "
                     "nothing was written"]
            lines += [f"  %{op.results[0].name if op.results else '?'} = {op.name}: {why}" for op, why in self.errors]
            raise IrcError("\n".join(lines))

    def outputs(self) -> list[str]:
        return [self.tensor(v) for v in self.func.outputs]

    def _refuse_unmapped(self) -> None:
        refuse_unmapped(self.module, EMITTERS, "Keras")

    def _targets(self, op: Op, base: str, count: int, claimed: bool = False) -> list[str]:
        """Variables for `op`'s first `count` results (the first is `base` itself when already `claimed`)."""
        outs = [base if i == 0 and claimed else self.fresh(base if i == 0 else f"{base}_{i}") for i in range(count)]
        for r, var in zip(op.results, outs, strict=False):
            self.vars[id(r)] = var
        return outs

    def _materialize(self, value: Value) -> None:
        """A param or constant read as a tensor: a NumPy literal when small, else an IrcWeight layer."""
        arr = self.constant(value)
        if arr is None:
            raise NotEmittable(f"%{value.name} is used before it is defined")
        if arr.size <= INLINE_MAX:
            self.vars[id(value)] = self.assign(value.name, array_literal(arr))
            return
        self.uses_weight_layer = True
        name = self.fresh(value.name)
        anchor = self.inputs[0][0]
        self.lines.append(Line([name], callee=WEIGHT_LAYER, args=[lit(list(arr.shape)), lit(arr.dtype.name)],
                               inputs=anchor, name=name, weights=[arr]))
        self.vars[id(value)] = name


def unmapped_ops() -> list[str]:
    """Registry ops the Keras emitter cannot write (for the gap test and the docs)."""
    return sorted(n for n in OPS if n not in EMITTERS and n != "nn.param" and not OPS[n].has("inlined"))


__all__ = ["EMITTERS", "INLINE_MAX", "KerasEmitter", "Line", "NotEmittable", "array_literal", "emits",
           "ident", "lit", "unmapped_ops"]
