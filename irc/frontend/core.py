"""The shared frontend core: what every importer (torch, ONNX, and the frameworks to come) does alike.

A frontend walks its source graph node by node and, for each node, calls the handler its op-keyed
table (`irc.ir.table.OpTable`) has for the node's op. Handlers build IR ops with `Frontend.emit_op`
(attributes checked and defaults filled by the registry, result types inferred unless the source
recorded them) and raise `Unsupported` when a node cannot be imported. The walk records each failure
with `Frontend.fail` and goes on, marking what the node defined as poisoned (a handler that reads a
poisoned value raises `Poisoned`, so one root cause is reported once); at the end `Frontend.finish`
raises one `IrcError` that lists every unsupported op with where it came from. Nothing is returned
or written when anything failed.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from ..ir import IrcError, Module, Op, TensorType, Value
from ..ir.ops import OPS
from ..ir.ops.registry import infer_types, normalize_attrs

POISON = object()  # the value of something a failed node defined
MAX_PLACES = 8  # places listed per unsupported op before "... and N more"


class Unsupported(Exception):
    """This node cannot be imported; the message says why (collected and reported together)."""


class Poisoned(Exception):
    """An operand failed to import already; its error is reported once, where it happened."""


@dataclass(frozen=True)
class Failure:
    op: str  # the source op ("aten.foo.default", "GridSample")
    reason: str
    where: str  # where it is in the source, ready to print ("layer1.conv (net.py:12)", "node /conv/Conv")


class Frontend:
    """Builds one IR function from a source graph and collects what could not be imported."""

    noun = "places"  # what `where` names, in "... and N more places"

    def __init__(self, name: str, progress=None, warn=None):
        self.name = name
        self.progress = progress or (lambda msg: None)
        self.warn = warn or (lambda msg: None)
        self.failures: list[Failure] = []
        self.func = None

    def emit_op(self, kind: str, operands: Sequence[Value], attrs: dict | None = None,
                types: Sequence[TensorType] | None = None, names: str | Sequence[str] | None = None,
                loc: object = None) -> Op:
        """Append `nn.KIND(operands) {attrs}` to the function and return the op.

        Attributes whose value is None are left out. Result types are inferred by the registry unless
        `types` gives them (a source that recorded its own); an op the registry refuses raises
        Unsupported with the registry's reason. `names` is one base name or one per result."""
        full = "nn." + kind
        opdef = OPS[full]
        attrs = {k: v for k, v in (attrs or {}).items() if v is not None}
        try:
            norm = normalize_attrs(opdef, attrs)
            if types is None:
                types = infer_types(opdef, [v.type for v in operands], norm)
        except Exception as e:  # noqa: BLE001  (a registry verifier may raise anything)
            raise Unsupported(f"cannot form {full}: {e}") from None
        if names is None or isinstance(names, str):
            names = [names or kind] * len(types)
        op = Op(full, operands, norm, types, list(names), loc=loc)
        self.func.append(op)
        return op

    def make_module(self, outputs: Sequence[Value], weights: object, verified: bool = True) -> Module:
        """The module of the function built: it returns `outputs`, its weights are `weights`, it is named after
        this frontend's `name`, and (unless `verified` is False: the caller verifies after its own passes) it is
        verified."""
        from ..ir.verifier import verify

        self.func.set_outputs(list(outputs))
        self.func.result_types = [v.type for v in outputs]
        module = Module(self.name, {}, [self.func], weights=weights)
        self.func.module = module
        if verified:
            verify(module)
        return module

    def take_name(self, result: Value, start: int, name: str) -> None:
        """`result` (the last of the ops emitted since op index `start`) takes `name` from the first of those ops
        that got it, so a source layer made of several ops is named after the layer where it ends."""
        for op in self.func.ops[start:]:
            for r in op.results:
                if r.name == name and r is not result:
                    r.name, result.name = result.name, r.name
                    return

    def dispatch(self, table: object, key: str, what: str, where: str, *args: object) -> object:
        """The handler `table` has for `key`, called with (self, *args); a source op it cannot import is recorded
        (reported with the others by `finish`) and POISON stands for what it computes."""
        handler = table.lookup(key)
        try:
            if handler is None:
                raise Unsupported(f"no irc mapping for this {what}")
            return handler(self, *args)
        except Poisoned:
            return POISON
        except Unsupported as e:
            self.fail(key or "(no type)", str(e), where)
            return POISON

    def fail(self, op: str, reason: str, where: str) -> None:
        self.failures.append(Failure(op, reason, where))

    def report(self) -> str:
        """One message for every failure: grouped by op and reason, each with the places it occurs."""
        groups: OrderedDict[tuple, list] = OrderedDict()
        for f in self.failures:
            groups.setdefault((f.op, f.reason), []).append(f.where)
        kinds = len({op for op, _ in groups})
        n = len(self.failures)
        lines = [f"cannot import {self.name}: {kinds} unsupported op{'s' if kinds != 1 else ''} "
                 f"({n} node{'s' if n != 1 else ''}); nothing was written"]
        for (op, reason), places in groups.items():
            lines.append(f"  {op} x{len(places)}: {reason}")
            seen = list(dict.fromkeys(places))
            lines.extend(f"      at {where}" for where in seen[:MAX_PLACES])
            if len(seen) > MAX_PLACES:
                lines.append(f"      ... and {len(seen) - MAX_PLACES} more {self.noun}")
        return "\n".join(lines)

    def finish(self) -> None:
        """Raise the report when anything failed."""
        if self.failures:
            raise IrcError(self.report())
