"""The TFLite emitter driver: one `Emitter` walks a channel-last IR function and builds a `ModelT`.

Each IR op is emitted by its family's function in `EMITTERS` (`@emits("conv2d")`), called as
`fn(emitter, op)`; it reads its operands' tensors with `emitter.input(op, i)` (or `emitter.weight(...)`
for a constant it reorders), makes result tensors with `emitter.output(op, i)` and adds operators with
`emitter.operator(...)`. The driver names no op: it asks `EMITTERS`, and `FUSED_ACTIVATIONS` (filled by
elementwise.py) for the activations TFLite fuses into the op before them.

Tensors are named after the IR values they hold (helper tensors `<result>__<what>`); a dynamic dimension
is 1 in `shape` and -1 in `shape_signature`. With `weights="f16"` every f32 param is stored as float16
and turned back into f32 by a DEQUANTIZE operator, as TensorFlow's converter does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ...ir import DenseAttr, IrcError, Module, Op, TensorType, Value
from ...ir.core import uniquify
from ...ir.dense import dense_values
from ...ir.dtypes import IR_TO_NP, NP_TO_IR
from ...ir.ops import OPS
from ...ir.table import OpTable
from ..gaps import refuse_unmapped

EMITTERS = OpTable("TFLite emitter", ir_keys=True)  # "nn.conv2d" -> fn(emitter, op)
emits = EMITTERS.register

# "nn.relu" -> fn(op) -> the TFLite fused activation name ("RELU", "RELU6", ...) or None when it cannot fuse
FUSED_ACTIVATIONS = OpTable("TFLite fused activation", ir_keys=True)
fuses = FUSED_ACTIVATIONS.register


def schema() -> object:
    """ai_edge_litert's flatbuffer object API (imported when first needed)."""
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def tflite_type(dtype: str) -> int:
    """The TFLite TensorType of an irc dtype (by its NumPy name: float32 -> FLOAT32)."""
    np_dtype = np.dtype(IR_TO_NP[dtype])
    code = getattr(schema().TensorType, np_dtype.name.upper(), None)
    if code is None or NP_TO_IR.get(np_dtype.str) != dtype:  # bf16 is held as uint16 bits: no such TFLite type
        raise IrcError(f"irc does not write {dtype} tensors to TFLite")
    return code


class Emitter:
    """The model being built: tensors, buffers, operator codes and operators of one subgraph."""

    def __init__(self, module: Module, weights: str = "f32"):
        if weights not in ("f32", "f16"):
            raise IrcError(f"weights must be 'f32' or 'f16', not {weights!r}")
        self.schema = schema()
        self.module = module
        self.func = module.main
        self.f16 = weights == "f16"
        self.tensors: list = []
        self.buffers: list = [self.schema.BufferT()]  # buffer 0: the empty one every non-constant tensor uses
        self.operators: list = []
        self.opcodes: dict[int, int] = {}  # builtin code -> index in operatorCodes
        self.index: dict[tuple, int] = {}  # (id(value), form) -> tensor index
        self.taken: set[str] = {v.name for v in self.func.values()}
        self.users: dict[int, list[Op]] = {}
        self.consumed: set[int] = set()  # ids of ops an earlier op fused
        self.outputs = {id(v) for v in self.func.outputs}

    # -- tensors

    def tensor(self, name: str, ttype: TensorType | Sequence, dtype: str | None = None,
               data: np.ndarray | None = None) -> int:
        """A new tensor; `ttype` is a TensorType or a shape (with `dtype`); `data` makes it a constant."""
        shape = ttype.shape if isinstance(ttype, TensorType) else tuple(ttype)
        dtype = ttype.dtype if isinstance(ttype, TensorType) else dtype
        t = self.schema.TensorT()
        t.name = name
        t.type = tflite_type(dtype)
        t.shape = [1 if d is None else int(d) for d in shape]
        if any(d is None for d in shape):
            t.shapeSignature = [-1 if d is None else int(d) for d in shape]
        t.buffer = 0
        if data is not None:
            buf = self.schema.BufferT()
            buf.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8)
            self.buffers.append(buf)
            t.buffer = len(self.buffers) - 1
        self.tensors.append(t)
        return len(self.tensors) - 1

    def fresh(self, base: str) -> str:
        return uniquify(base, self.taken)

    def temp(self, op: Op, what: str, shape: Sequence, dtype: str | None = None) -> int:
        """A helper tensor `<result>__<what>` of `shape` (dtype: the op's first result's)."""
        dtype = dtype or op.results[0].type.dtype
        return self.tensor(self.fresh(f"{op.results[0].name}__{what}"), shape, dtype)

    def const(self, op: Op | None, what: str, array: np.ndarray | Sequence, dtype: str | None = None) -> int:
        """A small constant (shapes, axes, scalars) named `<result>__<what>`; int lists become int32."""
        arr = np.asarray(array)
        if dtype is not None:
            arr = arr.astype(IR_TO_NP[dtype])
        elif arr.dtype == np.int64:
            arr = arr.astype(np.int32)
        elif arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        base = f"{op.results[0].name}__{what}" if op is not None else what
        return self.tensor(self.fresh(base), arr.shape, NP_TO_IR[arr.dtype.str], arr)

    def array(self, value: Value) -> np.ndarray | None:
        """The constant array `value` holds (a param or an nn.constant), else None."""
        owner = value.owner
        if owner is None:
            return None
        if owner.name == "nn.param":
            return self.module.weights.numpy(owner.attrs["key"])
        if isinstance(owner.attrs.get("value"), DenseAttr) and not owner.operands:  # nn.constant
            return dense_values(owner.attrs["value"])
        return None

    def weight(self, value: Value, form: str = "", reorder: Callable[[np.ndarray], np.ndarray] | None = None) -> int:
        """The tensor of a constant operand, reordered by `reorder` (the reordered form named `form`, made
        once); with weights="f16" a float one is stored float16 and dequantized."""
        cache = (id(value), form)
        if cache in self.index:
            return self.index[cache]
        arr = self.array(value)
        if arr is None:
            raise IrcError(f"%{value.name} must be a constant (a param) here")
        arr = np.ascontiguousarray(reorder(arr) if reorder is not None else arr)
        name = self._constant_name(value, form)
        if self.f16 and arr.dtype == np.float32:
            half = self.tensor(self.fresh(name + "__f16"), arr.shape, "f16", arr.astype(np.float16))
            idx = self.tensor(name, arr.shape, "f32")
            self.operator("DEQUANTIZE", [half], [idx])
        else:
            idx = self.tensor(name, arr.shape, NP_TO_IR[arr.dtype.str], arr)
        self.index[cache] = idx
        return idx

    def _constant_name(self, value: Value, form: str) -> str:
        """A param's tensor is named by its weight key (so a round trip keeps keys), a constant's by its value."""
        owner = value.owner
        base = owner.attrs["key"] if owner.name == "nn.param" else value.name
        own = base == value.name and not form  # the value's own name, taken by the value itself
        if base == value.name and form:
            base = f"{base}__{form}"
        name = base if own or base not in self.taken else self.fresh(base)
        self.taken.add(name)
        return name

    def input(self, op: Op, index: int) -> int:
        """The tensor of operand `index` (a constant operand gets its constant tensor)."""
        value = op.operands[index]
        cache = (id(value), "")
        return self.index[cache] if cache in self.index else self.weight(value)

    def output(self, op: Op, index: int = 0) -> int:
        """The tensor of result `index`, named after it (made on first use)."""
        return self.bind(op.results[index])

    def bind(self, value: Value, index: int | None = None) -> int:
        """The tensor holding `value`: `index` when given (an op that writes another op's result), else a
        new tensor named after it."""
        cache = (id(value), "")
        if index is not None:
            self.index[cache] = index
        elif cache not in self.index:
            self.index[cache] = self.tensor(value.name, value.type)
        return self.index[cache]

    # -- operators

    def operator(self, builtin: str, inputs: Sequence[int], outputs: Sequence[int], options: str | None = None,
                 **fields: object) -> None:
        """Add one operator; `options` names its BuiltinOptions table ("Conv2DOptions"), set from `fields`."""
        s = self.schema
        code = getattr(s.BuiltinOperator, builtin)
        if code not in self.opcodes:
            self.opcodes[code] = len(self.opcodes)
        o = s.OperatorT()
        o.opcodeIndex = self.opcodes[code]
        o.inputs = [int(i) for i in inputs]
        o.outputs = [int(i) for i in outputs]
        if options is not None:
            table = getattr(s, options + "T")()
            for k, v in fields.items():
                setattr(table, k, v)
            o.builtinOptionsType = getattr(s.BuiltinOptions, options)
            o.builtinOptions = table
        self.operators.append(o)

    def fused(self, op: Op) -> tuple[int, int]:
        """(the ActivationFunctionType to fuse, the tensor the op writes): the op's only user when that user
        is an activation TFLite fuses (its result is written directly; it is emitted no further), else NONE
        and the op's own result."""
        result = op.results[0]
        users = self.users.get(id(result), [])
        act = users[0] if len(users) == 1 and id(result) not in self.outputs else None
        name = None
        if act is not None and act.name in FUSED_ACTIVATIONS and act.operands[0] is result:
            name = FUSED_ACTIVATIONS[act.name](act)
        if name is None:
            return self.schema.ActivationFunctionType.NONE, self.output(op)
        self.consumed.add(id(act))
        return getattr(self.schema.ActivationFunctionType, name), self.bind(act.results[0])

    # -- the walk

    def build(self) -> object:
        """The ModelT of the module's main function."""
        refuse_unmapped(self.module, EMITTERS, "TFLite")
        for op in self.func.ops:
            for v in op.operands:
                self.users.setdefault(id(v), []).append(op)
        inputs = [self.bind(a) for a in self.func.args]
        for op in self.func.ops:
            if op.name == "nn.param" or id(op) in self.consumed:
                continue
            try:
                EMITTERS[op.name](self, op)
            except IrcError as e:
                raise IrcError(f"cannot emit %{op.results[0].name} = {op.name} as TFLite: {e}") from None
        outputs = [self._graph_output(v) for v in self.func.outputs]
        return self._model(inputs, outputs)

    def _graph_output(self, value: Value) -> int:
        if self.array(value) is not None:
            return self.weight(value)
        return self.index[(id(value), "")]

    def _model(self, inputs: list[int], outputs: list[int]) -> object:
        s = self.schema
        sub = s.SubGraphT()
        sub.tensors, sub.inputs, sub.outputs, sub.operators = self.tensors, inputs, outputs, self.operators
        sub.name = "main"
        model = s.ModelT()
        model.version = 3
        model.description = "irc"
        codes = sorted(self.opcodes, key=self.opcodes.get)
        model.operatorCodes = []
        for code in codes:
            oc = s.OperatorCodeT()
            oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, min(code, 127), 1
            model.operatorCodes.append(oc)
        model.subgraphs = [sub]
        model.buffers = self.buffers
        sig = s.SignatureDefT()
        sig.signatureKey = "serving_default"
        sig.subgraphIndex = 0
        sig.inputs = [_tensor_map(a.name, i) for a, i in zip(self.func.args, inputs, strict=True)]
        sig.outputs = [_tensor_map(v.name, i) for v, i in zip(self.func.outputs, outputs, strict=True)]
        model.signatureDefs = [sig]
        return model


def _tensor_map(name: str, index: int) -> object:
    m = schema().TensorMapT()
    m.name, m.tensorIndex = name, index
    return m


def unmapped_ops() -> list[str]:
    """Registry ops the TFLite emitter cannot write (for the gap test and the docs)."""
    return sorted(n for n in OPS if n not in EMITTERS and n != "nn.param" and not OPS[n].has("inlined"))


def pack(model: object) -> bytes:
    """The flatbuffer bytes of a ModelT, with TFLite's file identifier."""
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
