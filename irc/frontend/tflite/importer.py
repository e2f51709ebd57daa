"""The TFLite import driver: walk the main subgraph's operators in order and call each one's handler from
`IMPORTERS` (keyed by the TFLite builtin operator name, "CONV_2D").

Values are named after the tensors that hold them (`importer.source_names` maps each tensor name to its IR
value's name); constant tensors become `nn.param` keyed by the tensor name when an op reads them as data
(reordered under the same key where the IR wants another order: a CONV_2D filter OHWI is stored HWIO).
A float16 constant read through DEQUANTIZE is folded: the DEQUANTIZE's output is the f32 param. Quantised
models (tensors with scales and zero points) are refused up front, naming what is quantised.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from ...ir import Func, IrcError, Module, NameLoc, TensorType, Value, WeightStore
from ...ir.core import sanitize_name
from ...ir.dtypes import IR_TO_NP, NP_TO_IR
from ...ir.table import OpTable
from ..core import POISON, Frontend, Poisoned, Unsupported
from .source import load_tflite, schema

IMPORTERS = OpTable("TFLite importer")  # "CONV_2D" -> fn(importer, operator) -> Value | list[Value]
imports = IMPORTERS.register

MAX_LISTED = 8


def import_tflite(path: str, *, weights: str | None = None, name: str | None = None,
                  progress: Callable[[str], None] | None = None,
                  warn: Callable[[str], None] | None = None) -> Module:
    """Import a .tflite file as a channel-last (nhwc) irc Module (`weights` is not used: TFLite holds them)."""
    if weights is not None:
        raise IrcError("a TFLite file holds its own weights: --weights is not used")
    model = load_tflite(path)
    if name is None:
        name = os.path.splitext(os.path.basename(os.fspath(path)))[0] or "tflite_model"
    return TfliteImporter(model, sanitize_name(name).replace(".", "_"), progress, warn).run()


def ir_dtype(code: int) -> str:
    """The irc dtype of a TFLite TensorType code (by its NumPy name: FLOAT32 -> float32)."""
    names = {v: k for k, v in vars(schema().TensorType).items() if not k.startswith("_")}
    try:
        return NP_TO_IR[np.dtype(names[code].lower()).str]
    except (KeyError, TypeError):
        raise IrcError(f"TFLite tensor type {names.get(code, code)} is not supported") from None


class TfliteImporter(Frontend):
    """Builds the IR function of one TFLite subgraph; handlers read tensors and emit ops through it."""

    noun = "operators"

    def __init__(self, model: object, name: str, progress: Callable[[str], None] | None = None,
                 warn: Callable[[str], None] | None = None):
        super().__init__(name, progress, warn)
        self.schema = schema()
        self.model = model
        self.graph = model.subgraphs[0]
        self.store = WeightStore()
        self.values: dict[int, Value] = {}  # tensor index -> its value
        self.folded: dict[int, np.ndarray] = {}  # tensor index -> the constant a folded op computed
        self.params: dict[tuple, Value] = {}  # (tensor index, form) -> its param
        self.source_names: dict[str, str] = {}
        self.operator = None
        codes = {v: k for k, v in vars(self.schema.BuiltinOperator).items() if not k.startswith("_")}
        self.kinds = [codes.get(max(oc.builtinCode, oc.deprecatedBuiltinCode), "CUSTOM") if oc.customCode is None
                      else f"CUSTOM:{_text(oc.customCode)}" for oc in model.operatorCodes]

    # -- tensors

    def tensor_name(self, index: int) -> str:
        return _text(self.graph.tensors[index].name) or f"t{index}"

    def tensor_type(self, index: int) -> TensorType:
        t = self.graph.tensors[index]
        dims = t.shapeSignature if t.shapeSignature is not None and len(t.shapeSignature) else t.shape
        dims = [] if dims is None else list(dims)
        return TensorType(tuple(None if d < 0 else int(d) for d in dims), ir_dtype(t.type))

    def constant(self, index: int) -> np.ndarray | None:
        """The data of a constant tensor (or one a folded op computed), else None."""
        if index in self.folded:
            return self.folded[index]
        t = self.graph.tensors[index]
        buf = self.model.buffers[t.buffer] if t.buffer < len(self.model.buffers) else None
        if t.isVariable or buf is None or buf.data is None or len(buf.data) == 0:
            return None
        ttype = self.tensor_type(index)
        arr = np.frombuffer(np.asarray(buf.data, dtype=np.uint8).tobytes(), dtype=IR_TO_NP[ttype.dtype])
        return arr.reshape([1 if d is None else d for d in ttype.shape]) if ttype.shape else arr.reshape(())

    # -- what handlers use

    @property
    def options(self) -> object:
        return self.operator.builtinOptions

    def has_input(self, index: int) -> bool:
        ins = self.operator.inputs
        return ins is not None and index < len(ins) and ins[index] >= 0

    def array(self, index: int) -> np.ndarray | None:
        """The constant data of input `index` of the current operator, else None."""
        return self.constant(self.operator.inputs[index]) if self.has_input(index) else None

    def ints(self, index: int, what: str) -> list[int]:
        """A constant int input (a shape, axes, a permutation) as a list."""
        arr = self.array(index)
        if arr is None:
            raise Unsupported(f"the {what} (input {index}) must be a constant")
        return [int(v) for v in np.asarray(arr).ravel()]

    def input(self, position: int, form: str = "", reorder: Callable[[np.ndarray], np.ndarray] | None = None) -> Value:
        """The value of input `position`: a computed tensor's value, or a constant's param (`reorder`ed into
        `form`)."""
        index = self.operator.inputs[position]
        if index in self.values:
            if self.values[index] is POISON:
                raise Poisoned()
            return self.values[index]
        arr = self.constant(index)
        if arr is None:
            raise Unsupported(f"input {position} ({self.tensor_name(index)}) is neither computed before nor a constant")
        cache = (index, form)
        if cache not in self.params:
            arr = np.ascontiguousarray(reorder(arr) if reorder is not None else arr)
            self.params[cache] = self._param(self.tensor_name(index), arr)
        return self.params[cache]

    def new_constant(self, arr: np.ndarray, what: str = "const") -> Value:
        """A param made by the importer (not a tensor of the file), keyed `<output tensor>/<what>`."""
        return self._param(f"{self.tensor_name(self.operator.outputs[0])}/{what}", np.ascontiguousarray(arr))

    def _param(self, base: str, arr: np.ndarray) -> Value:
        key = self.store.fresh_key(base)
        dtype = NP_TO_IR[arr.dtype.str]
        self.store.add(key, arr, dtype)
        op = self.emit_op("param", [], {"key": key}, types=[TensorType(tuple(arr.shape), dtype)],
                          names=sanitize_name(key))
        return op.result

    def output_type(self, index: int = 0) -> TensorType:
        return self.tensor_type(self.operator.outputs[index])

    def emit(self, kind: str, operands: Sequence[Value], attrs: dict | None = None, act: int = 0) -> Value:
        """nn.KIND named after the first output tensor (then its fused activation `act`, an
        ActivationFunctionType)."""
        name = self.tensor_name(self.operator.outputs[0])
        if act:
            return self.activation(self.emit_named(kind, operands, attrs, name + "_raw")[0], act)
        return self.emit_named(kind, operands, attrs, name)[0]

    def emit_results(self, kind: str, operands: Sequence[Value], attrs: dict | None = None) -> list[Value]:
        return self.emit_named(kind, operands, attrs, [self.tensor_name(t) for t in self.operator.outputs])

    def emit_named(self, kind: str, operands: Sequence[Value], attrs: dict | None, names: str | list) -> list[Value]:
        first = names if isinstance(names, str) else names[0]
        base = sanitize_name(names) if isinstance(names, str) else [sanitize_name(n) for n in names]
        return list(self.emit_op(kind, list(operands), attrs, names=base, loc=NameLoc(first)).results)

    def activation(self, x: Value, act: int) -> Value:
        """A fused activation (an ActivationFunctionType) applied to `x`, named after the first output."""
        kinds = self.schema.ActivationFunctionType
        name = self.tensor_name(self.operator.outputs[0])
        table = {kinds.RELU: ("relu", {}), kinds.RELU6: ("clamp", {"min": 0.0, "max": 6.0}),
                 kinds.RELU_N1_TO_1: ("clamp", {"min": -1.0, "max": 1.0}), kinds.TANH: ("tanh", {})}
        if act not in table:
            raise Unsupported(f"fused activation {act} is not supported")
        kind, attrs = table[act]
        return self.emit_named(kind, [x], attrs, name)[0]

    # -- the walk

    def run(self) -> Module:
        refuse_quantized(self)
        args = []
        for index in self.graph.inputs:
            value = Value(sanitize_name(self.tensor_name(index)), self.tensor_type(index))
            self.values[index] = value
            self.source_names[self.tensor_name(index)] = value.name
            args.append(value)
        self.func = Func("forward", args, [])
        for n, operator in enumerate(self.graph.operators):
            if n % 100 == 99:
                self.progress(f"importing operator {n + 1}")
            self.import_operator(operator)
        self.operator = None
        self.finish()
        outs = [self._output(index) for index in self.graph.outputs]
        return self.make_module(outs, self.store)

    def _output(self, index: int) -> Value:
        if index in self.values:
            return self.values[index]
        self.operator = _Reader([index])
        return self.input(0)

    def import_operator(self, operator: object) -> None:
        """One operator: its outputs bound to the handler's values; a failure is recorded, not raised."""
        kind = self.kinds[operator.opcodeIndex]
        self.operator = operator
        outputs = list(operator.outputs)
        try:
            handler = IMPORTERS.lookup(kind)
            if handler is None:
                raise Unsupported("no irc mapping for this TFLite operator")
            result = handler(self, operator)
        except Poisoned:
            result = [POISON] * len(outputs)
        except (Unsupported, IrcError) as e:  # (an IrcError: a tensor type irc has no dtype for)
            self.fail(kind, str(e), f"operator {self.tensor_name(outputs[0]) if outputs else kind}")
            result = [POISON] * len(outputs)
        if result is None:  # folded into a constant
            return
        result = result if isinstance(result, list) else [result]
        for index, value in zip(outputs, result, strict=False):
            self.values[index] = value
            if value is not POISON:
                self.source_names[self.tensor_name(index)] = value.name


class _Reader:
    """A stand-in operator whose input 0 is one tensor (to read a constant graph output)."""

    def __init__(self, inputs: list[int]):
        self.inputs = inputs


def _text(value: object) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)


def refuse_quantized(importer: TfliteImporter) -> None:
    """An IrcError naming the quantised tensors and the operators that read or write them."""
    graph = importer.graph
    quantized = []
    for index, t in enumerate(graph.tensors):
        q = t.quantization
        if q is not None and q.scale is not None and len(q.scale) > 0:
            quantized.append(index)
    if not quantized:
        return
    marked = set(quantized)
    ops: dict[str, int] = {}
    for operator in graph.operators:
        if marked & {i for i in list(operator.inputs) + list(operator.outputs) if i >= 0}:
            kind = importer.kinds[operator.opcodeIndex]
            ops[kind] = ops.get(kind, 0) + 1
    shown = [f"{importer.tensor_name(i)} ({importer.tensor_type(i).dtype})" for i in quantized[:MAX_LISTED]]
    more = f" and {len(quantized) - MAX_LISTED} more" if len(quantized) > MAX_LISTED else ""
    raise IrcError(
        f"cannot import {importer.name}: the model is quantised ({len(quantized)} tensors carry scales and zero "
        f"points) and irc does not import quantised graphs yet; nothing was written\n"
        f"  quantised tensors: {', '.join(shown)}{more}\n"
        f"  operators on them: {', '.join(f'{k} x{n}' for k, n in sorted(ops.items()))}")


__all__ = ["IMPORTERS", "TfliteImporter", "import_tflite", "imports"]
