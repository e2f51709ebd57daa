"""The CoreML import driver: walk the `main` function of an ML program's MIL program op by op and call each
op's handler from `IMPORTERS` (keyed by MIL op type: "conv", "batch_norm", ...).

Handlers are called as `fn(importer, op)` with the MIL operation and return the IR value of its result (a list
for several). They read operands with `importer.value(var)` (a tensor; a `const` becomes an `nn.param` keyed
by its MIL name when larger than a dense literal, else an inline `nn.constant`), `importer.param(var)`
(weights: always an `nn.param`) and `importer.attr(op, name)` (a const input's Python value). Values keep
their MIL names; `importer.source_names` maps {MIL name: IR value name}. Channel order is MIL's (NCHW).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from ...ir import DenseAttr, Func, IrcError, Module, NameLoc, TensorType, Value, WeightStore
from ...ir.core import DENSE_MAX, sanitize_name
from ...ir.dtypes import ir_dtype_of_numpy
from ...ir.table import OpTable
from ..core import POISON, Frontend, Poisoned, Unsupported
from .source import load_program

IMPORTERS = OpTable("CoreML importer")  # MIL op type -> fn(importer, op) -> Value | list[Value]
imports = IMPORTERS.register

MIL_TO_IR = {"fp32": "f32", "fp16": "f16", "fp64": "f64", "int32": "i32", "int64": "i64", "int16": "i16",
             "int8": "i8", "uint8": "u8", "bool": "i1"}
SKIPPED = ("const",)  # made on first use, by the op that reads them


def import_coreml(path: str | os.PathLike, *, weights: str | None = None, name: str | None = None,
                  progress: Callable[[str], None] | None = None,
                  warn: Callable[[str], None] | None = None) -> Module:
    """Import the ML program of a CoreML .mlpackage (or .mlmodel) as an irc Module."""
    importer = CoremlImporter.open(path, name, progress, warn)
    return importer.run()


def _dense(arr: np.ndarray) -> DenseAttr:
    """A small array as a dense literal (a splat when every element is the same)."""
    dtype = ir_dtype_of_numpy(arr)
    vals = arr.astype(np.float64).tolist() if arr.dtype.kind == "f" else arr.tolist()
    if arr.size > 1 and (arr == arr.ravel()[0]).all():
        while isinstance(vals, list):
            vals = vals[0]
    return DenseAttr(vals, TensorType(tuple(arr.shape), dtype))


class CoremlImporter(Frontend):
    """Builds the IR function of one MIL function; handlers read operands and emit ops through it."""

    noun = "ops"

    def __init__(self, program: object, name: str, progress: Callable[[str], None] | None = None,
                 warn: Callable[[str], None] | None = None):
        super().__init__(name, progress, warn)
        from coremltools.converters.mil.mil import types

        self.types = types
        self.program = program
        self.store = WeightStore()
        self.values: dict[int, Value] = {}  # id(MIL var) -> its IR value
        self.source_names: dict[str, str] = {}  # MIL var name -> IR value name
        self.op = None

    @classmethod
    def open(cls, path: str | os.PathLike, name: str | None = None, progress: Callable[[str], None] | None = None,
             warn: Callable[[str], None] | None = None) -> CoremlImporter:
        """An importer for the model at `path`, named after the file unless `name` is given."""
        path = os.fspath(path).rstrip("/")
        base = name or os.path.splitext(os.path.basename(path))[0] or "coreml_model"
        return cls(load_program(path), sanitize_name(base).replace(".", "_"), progress, warn)

    # -- what handlers use

    def ir_dtype(self, var: object) -> str:
        mil = self.types.builtin_to_string(var.dtype)
        if mil not in MIL_TO_IR:
            raise Unsupported(f"{var.name} has MIL type {mil}, which irc does not support")
        return MIL_TO_IR[mil]

    def attr(self, op: object, name: str, default: object = None) -> object:
        """The Python value of `op`'s const input `name` (lists for arrays), or `default` when absent."""
        var = op.inputs.get(name)
        if var is None:
            return default
        if var.val is None:
            raise Unsupported(f"input '{name}' is computed at run time; irc needs it constant")
        val = var.val
        return val.tolist() if isinstance(val, np.ndarray) else val.item() if isinstance(val, np.generic) else val

    def value(self, var: object) -> Value:
        """The IR value of a MIL tensor: an input, an op's result, or a const (made here on first use)."""
        if id(var) not in self.values:
            if var.op is None or var.op.op_type != "const":
                raise Unsupported(f"operand {var.name} is not defined before its use")
            arr = np.asarray(var.val)
            self.values[id(var)] = self.param(var) if arr.size > DENSE_MAX else \
                self.emit_op("constant", [], {"value": _dense(arr)}, names=sanitize_name(var.name)).result
        v = self.values[id(var)]
        if v is POISON:
            raise Poisoned()
        return v

    def input(self, op: object, name: str) -> Value | None:
        """The IR value of `op`'s tensor input `name`, None when absent."""
        var = op.inputs.get(name)
        return None if var is None else self.value(var)

    def param(self, var: object) -> Value:
        """A const tensor as an `nn.param` keyed by its MIL name (weights are params whatever their size)."""
        if id(var) in self.values:
            return self.values[id(var)]
        if var.val is None:
            raise Unsupported(f"the weight {var.name} is computed at run time; irc needs it constant")
        arr = np.ascontiguousarray(np.asarray(var.val))
        self.values[id(var)] = self.new_param(arr, var.name)
        return self.values[id(var)]

    def new_param(self, arr: np.ndarray, key: str) -> Value:
        """A param made by the importer (a default gamma or beta), keyed `key` made unique."""
        key = self.store.fresh_key(sanitize_name(key))
        dtype = ir_dtype_of_numpy(arr)
        self.store.add(key, arr, dtype)
        op = self.emit_op("param", [], {"key": key}, types=[TensorType(tuple(arr.shape), dtype)],
                          names=sanitize_name(key))
        return op.result

    def emit(self, kind: str, operands: Sequence[Value], attrs: dict | None = None, name: str | None = None) -> Value:
        """nn.KIND for the current op: named after its first result (or `name`), located at the op's name."""
        return self.emit_results(kind, operands, attrs, name)[0]

    def emit_results(self, kind: str, operands: Sequence[Value], attrs: dict | None = None,
                     name: str | None = None) -> list[Value]:
        """As `emit`, returning every result."""
        base = name or self.op.outputs[0].name
        op = self.emit_op(kind, list(operands), attrs, names=sanitize_name(base), loc=NameLoc(self.op.name))
        return list(op.results)

    def helper(self, kind: str, operands: Sequence[Value], attrs: dict | None = None, what: str = "") -> Value:
        """An intermediate op a handler needs before the op's own result: named `<result>__<what>`."""
        return self.emit(kind, operands, attrs, name=f"{self.op.outputs[0].name}__{what or kind}")

    # -- the walk

    def run(self) -> Module:
        function = self.program.functions.get("main")
        if function is None:
            raise IrcError(f"{self.name}: the ML program has no 'main' function")
        args = []
        for name, var in function.inputs.items():
            if any(not isinstance(d, (int, np.integer)) for d in var.shape):
                raise IrcError(f"input {name} has a flexible shape {var.shape}; irc imports fixed shapes")
            arg = Value(sanitize_name(name), TensorType(tuple(int(d) for d in var.shape), self._arg_dtype(var)))
            self.values[id(var)] = arg
            self.source_names[name] = arg.name
            args.append(arg)
        self.func = Func("forward", args, [])
        for op in function.operations:
            if op.op_type not in SKIPPED:
                self.import_op(op)
        self.op = None
        outs = [self.values.get(id(v), POISON) for v in function.outputs]
        self.finish()
        return self.make_module(outs, self.store)

    def _arg_dtype(self, var: object) -> str:
        try:
            return self.ir_dtype(var)
        except Unsupported as e:
            raise IrcError(str(e)) from None

    def import_op(self, op: object) -> None:
        """One MIL op: its results' IR values recorded; a failure is recorded, not raised."""
        self.op = op
        handler = IMPORTERS.lookup(op.op_type)
        try:
            if handler is None:
                raise Unsupported("no irc mapping for this MIL op")
            out = handler(self, op)
        except Poisoned:
            out = None
        except Unsupported as e:
            self.fail(op.op_type, str(e), f"op {op.name}")
            out = None
        outs = out if isinstance(out, (list, tuple)) else [out]
        for k, var in enumerate(op.outputs):
            value = outs[k] if out is not None and k < len(outs) else POISON
            self.values[id(var)] = value
            if value is not POISON:
                self.source_names[var.name] = value.name


__all__ = ["IMPORTERS", "CoremlImporter", "import_coreml", "imports"]
