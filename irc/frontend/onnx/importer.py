"""The ONNX import driver: read the model, walk its nodes, and call each node's handler from the tables.

The driver names no ONNX op: what it must know of an op type (never folded, keeps its weight's key, reads
attributes its schema lacks) the family files declare in `tables.py` beside their handlers. After the walk the
patterns the exporters write for one PyTorch op are fused back by registered passes (`IMPORT_PASSES`),
dead ops are erased and the module is verified.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ...ir import DenseAttr, Func, IrcError, Module, NameLoc, TensorType, Value, WeightStore, verify
from ...ir.core import DENSE_MAX
from ...ir.dtypes import ONNX_TO_IR
from ...passes import parse_pipeline
from ..core import POISON, Frontend, Poisoned, Unsupported
from .source import load_onnx, read_dims
from .tables import (
    AFFINE_IMPORTERS,
    ALWAYS_FOLDED,
    EXTRA_ATTRIBUTES,
    IMPORTERS,
    KEEPS_WEIGHTS,
    NEVER_FOLDED,
    SHAPE_IMPORTERS,
)
from .values import NAME_SCOPES, Affine, Const, ImportValue, Shp, ir_dtype, nice_float, sanitize, value_name

if TYPE_CHECKING:
    from onnx import ModelProto, NodeProto, TensorProto, ValueInfoProto

OPSET_MIN, OPSET_MAX = 7, 21

# the passes run after the walk, in this order: fuse what exporters split up, drop what that left unused,
# then join the one-node-per-layer recurrent ops of a stacked module
IMPORT_PASSES = "fuse-silu,fuse-gelu,fuse-linear,dce,merge-recurrent-layers"

BAD_INITIALIZER = object()  # the value of an initializer whose element type irc has no name for


def import_onnx(src: str | os.PathLike | bytes | ModelProto, name: str | None = None,
                progress: Callable[[str], None] | None = None, warn: Callable[[str], None] | None = None) -> Module:
    """Import an ONNX model (path, bytes or ModelProto) as an irc Module with an in-memory weight store."""
    model = load_onnx(src)
    if name is None:
        if isinstance(src, (str, os.PathLike)):
            name = os.path.splitext(os.path.basename(os.fspath(src)))[0]
        else:
            name = model.graph.name or "onnx_model"
    return OnnxImporter(model, sanitize(name).replace(".", "_"), progress, warn).run()


def _scope_base(node) -> str | None:
    """The module path torch's exporter recorded for a node: its name scopes, or its `/a/b/Op` node name."""
    scopes = None
    for p in node.metadata_props:
        if p.key == NAME_SCOPES:
            try:
                scopes = ast.literal_eval(p.value)
            except (ValueError, SyntaxError):
                scopes = None
    if scopes and len(scopes) >= 2 and scopes[-2]:
        return scopes[-2]
    if not node.name.startswith("/"):
        return None
    parts = [p for p in node.name.strip("/").split("/") if p]
    base = ""
    for p in parts[:-1]:
        base = p if not base or p.startswith(base + ".") else base + "." + p
    return base or (parts[-1].split("_")[0] if parts else "v").lower()


class OnnxImporter(Frontend):
    """Builds the IR function of one ONNX graph; handlers read their node's inputs through it."""

    noun = "nodes"

    def __init__(self, model: ModelProto, name: str, progress: Callable[[str], None] | None = None,
                 warn: Callable[[str], None] | None = None):
        super().__init__(name, progress, warn)
        self.model = model
        self.graph = model.graph
        self.opset = None
        for o in model.opset_import:
            if o.domain in ("", "ai.onnx"):
                self.opset = o.version
        if self.opset is None:
            raise IrcError("the model imports no version of the default ONNX domain")
        self.env: dict = {}
        self.store = WeightStore()
        self.params: dict[str, Value] = {}
        self.init_keys: dict[str, str] = {}
        self.dims: dict[str, list] = {}
        self.node = None
        self.producer: dict = {}
        self.recurrent_layers: dict[str, int] = {}  # module path -> recurrent nodes imported under it so far
        self._consumed = None
        self.onnx_names: dict[int, str] = {}  # id(IR value) -> the ONNX name it was first bound to
        self._declared: dict[str, set[str] | None] = {}  # op type -> the attributes its schema declares

    # -- types

    def arg_type(self, vi: ValueInfoProto) -> TensorType:
        tt = vi.type.tensor_type
        if tt.elem_type not in ONNX_TO_IR:
            raise IrcError(f"graph input {vi.name} has an element type irc does not support ({tt.elem_type})")
        if not tt.HasField("shape"):
            raise IrcError(f"graph input {vi.name} has no shape; irc needs at least its rank")
        shape = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tt.shape.dim)
        return TensorType(shape, ONNX_TO_IR[tt.elem_type])

    # -- names

    def base_name(self, node: NodeProto, i: int = 0) -> str:
        """The IR name of what `node` computes: its module path when the exporter recorded one."""
        base = _scope_base(node)
        if base is None:
            out = node.output[i] if i < len(node.output) else ""
            base = value_name(out) if out else node.op_type.lower()
        return sanitize(base)

    # -- value access

    def get(self, name: str) -> ImportValue | None:
        if name == "":
            return None
        if name not in self.env:
            raise Unsupported(f"input '{name}' is not defined before this node")
        v = self.env[name]
        if v is POISON:
            raise Poisoned()
        return v

    def inp(self, i: int) -> ImportValue | None:
        """Input i of the current node as imported (a Value, Const, Shp, ...), or None when absent."""
        node = self.node
        if i >= len(node.input) or node.input[i] == "":
            return None
        return self.get(node.input[i])

    def val(self, i: int, what: str = "input") -> Value:
        """Operand i as an IR value (constants become params or nn.constant)."""
        x = self.inp(i)
        if x is None:
            raise Unsupported(f"{what} (input {i}) is missing")
        return self.as_value(x, self.node.input[i])

    def opt_val(self, i: int) -> Value | None:
        x = self.inp(i)
        return None if x is None else self.as_value(x, self.node.input[i])

    def as_value(self, x: ImportValue, onnx_name: str = "const") -> Value:
        """`x` as an IR value: an initializer becomes a param (once per initializer), a small constant an
        nn.constant, a large computed one a param of its own."""
        if isinstance(x, Value):
            return x
        _refuse_as_data(x)
        if x.init is not None:
            key = self.init_keys.get(x.init)
            if key is None:
                key = self.init_keys[x.init] = self.store.fresh_key(sanitize(x.init))
                self._add_param(key, x.array, "bf16" if x.bf16 else ir_dtype(x.array))
            return self.params[key]
        arr = x.array
        dtype = ir_dtype(arr)
        if arr.size <= DENSE_MAX:
            return self.emit("constant", [], {"value": _dense(arr, dtype)}, name=value_name(onnx_name))
        key = self.store.fresh_key(value_name(onnx_name))
        return self._add_param(key, arr, dtype)

    def new_param(self, base: str, arr: np.ndarray) -> Value:
        """A new weight (made here, e.g. reordered from an initializer) under a fresh key."""
        key = self.store.fresh_key(sanitize(base))
        return self._add_param(key, arr, ir_dtype(arr))

    def _add_param(self, key: str, arr, dtype: str) -> Value:
        self.store.add(key, arr, dtype)
        op = self.emit_op("param", [], {"key": key}, types=[TensorType(tuple(arr.shape), dtype)], names=key)
        self.params[key] = op.result
        return op.result

    def const(self, i: int, what: str = "input") -> np.ndarray | None:
        """Operand i as a NumPy array known at import time."""
        x = self.inp(i)
        if x is None:
            return None
        if isinstance(x, Const):
            return x.array
        if isinstance(x, Shp):
            raise Unsupported(f"{what} depends on a dynamic dimension; irc needs it static")
        raise Unsupported(f"{what} is computed at run time; irc needs it to be a constant")

    def ints(self, i: int, what: str = "input") -> list[int] | None:
        arr = self.const(i, what)
        return None if arr is None else [int(v) for v in np.asarray(arr).ravel()]

    def attr(self, key: str, default: object = None) -> object:
        """Attribute `key` of the current node (strings decoded, floats as the double they most likely were)."""
        from onnx import helper

        for a in self.node.attribute:
            if a.name == key:
                return _attr_value(helper.get_attribute_value(a))
        return default

    # -- emitting

    def emit(self, kind: str, operands: list[Value], attrs: dict | None = None, name: str | list[str] | None = None,
             nresults: object = None) -> Value | list[Value]:
        """nn.KIND for the current node: named after its module path, located at its node name. Returns the
        result, or every result when `nresults` is given."""
        if name is None:
            name = self.base_name(self.node) if self.node is not None else kind
        names = list(name) if isinstance(name, list) else name
        first = names[0] if isinstance(names, list) else names
        loc = None
        if self.node is not None and self.node.name and sanitize(self.node.name) != first:
            loc = NameLoc(self.node.name)
        op = self.emit_op(kind, operands, attrs, names=names, loc=loc)
        return op.results if nresults is not None else op.results[0]

    # -- the run

    def run(self) -> Module:
        if not OPSET_MIN <= self.opset <= OPSET_MAX:
            raise IrcError(f"opset {self.opset} is not supported: irc imports opsets {OPSET_MIN} to {OPSET_MAX} "
                           "(convert with onnx.version_converter first)")
        self.progress("reading shapes")
        self.dims = read_dims(self.model)
        self._bind_inputs()
        nodes = self.graph.node
        self.producer = self._producers(nodes)
        for k, node in enumerate(nodes):
            if k % 200 == 0:
                self.progress(f"importing node {k}/{len(nodes)}")
            self.import_node(node)
        self.node = None
        outs = self._outputs()
        self.finish()
        module = self.make_module(outs, self.store, verified=False)
        for fusion in parse_pipeline(IMPORT_PASSES):  # verified once, after them all
            fusion.apply(module)
        verify(module)
        return module

    def _producers(self, nodes) -> dict:
        """Output name -> the node writing it; a name written twice (or also a graph input) is refused."""
        producer, inputs = {}, {vi.name for vi in self.graph.input} | {t.name for t in self.graph.initializer}
        for n in nodes:
            for o in n.output:
                if not o:
                    continue
                first = producer.get(o)
                if first is not None or o in inputs:
                    by = f"node {first.name or first.op_type}" if first is not None else "a graph input"
                    raise IrcError(f"value '{o}' is written by {by} and again by node {n.name or n.op_type}; "
                                   "an ONNX graph defines each value once")
                producer[o] = n
        return producer

    def _bind_inputs(self) -> None:
        """The function's arguments (graph inputs that are not initializers) and the initializers' values."""
        g = self.graph
        inits = {t.name for t in g.initializer}
        inputs = [vi for vi in g.input if vi.name not in inits]
        args, names = [], set()
        for vi in inputs:
            t = self.arg_type(vi)
            n = sanitize(vi.name)
            base, k = n, 0
            while n in names:
                k += 1
                n = f"{base}_{k}"
            names.add(n)
            args.append(Value(n, t))
        self.func = Func("forward", args, [])
        for vi, a in zip(inputs, args, strict=True):
            self.env[vi.name] = a
        for t in g.initializer:
            self.env[t.name] = self.initializer(t)

    def _outputs(self) -> list[Value]:
        outs = []
        for o in self.graph.output:
            try:
                outs.append(self.as_value(self.get(o.name), o.name))
            except Poisoned:
                pass
            except Unsupported as e:
                self.fail("output", str(e), f"node {o.name}")
        return outs

    def initializer(self, tensor: TensorProto) -> Const | object:
        """An initializer as a Const (bf16 as its raw bits), or BAD_INITIALIZER for an element type irc lacks."""
        from onnx import TensorProto, numpy_helper

        if tensor.data_type == TensorProto.BFLOAT16:
            raw = np.frombuffer(tensor.raw_data, dtype=np.uint16) if tensor.raw_data else \
                np.asarray(tensor.int32_data, np.uint16)
            if raw.size != int(np.prod(tensor.dims)):
                raise IrcError(f"initializer '{tensor.name}' of dims {list(tensor.dims)} holds {raw.size} values")
            return Const(raw.reshape(tuple(tensor.dims)).copy(), init=tensor.name, bf16=True)
        if tensor.data_type not in ONNX_TO_IR:
            return BAD_INITIALIZER
        try:
            return Const(numpy_helper.to_array(tensor), init=tensor.name)
        except (ValueError, TypeError) as e:  # dims that disagree with the data it holds
            raise IrcError(f"initializer '{tensor.name}' of dims {list(tensor.dims)} does not hold data of that "
                           f"shape ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None

    def import_node(self, node: NodeProto) -> None:
        """Import one node; a failure is recorded (and what the node defines poisoned), not raised."""
        self.node = node
        try:
            ins = [self.get(n) if n else None for n in node.input]
        except Poisoned:
            self._poison(node)
            return
        except Unsupported as e:
            self.fail_node(node, str(e))
            return
        if any(x is BAD_INITIALIZER for x in ins):
            self.fail_node(node, "an initializer has an element type irc does not support")
            return
        try:
            if node.domain not in ("", "ai.onnx"):
                raise Unsupported(f"operator domain '{node.domain}' is not supported")
            self._check_attributes(node)
            self._bind_outputs(node, self._dispatch(node, ins))
        except Poisoned:
            self._poison(node)
        except Unsupported as e:
            self.fail_node(node, str(e))

    def _dispatch(self, node, ins):
        """The node's outputs: folded when its inputs are constants, else from the affine, shape-vector or
        IR handler for its op type."""
        op_type = node.op_type
        if op_type in ALWAYS_FOLDED or (op_type not in NEVER_FOLDED and self._foldable(node, ins)):
            return self.fold(node, ins)
        if any(isinstance(x, Affine) for x in ins):
            handler = AFFINE_IMPORTERS.lookup(op_type)
            if handler is None:
                raise Unsupported("index arithmetic over a dynamic dimension (as the default exporter writes "
                                  "as_strided) that irc cannot express")
            return handler(self, node, ins)
        if any(isinstance(x, Shp) for x in ins) and op_type in SHAPE_IMPORTERS \
                and not any(isinstance(x, Value) for x in ins):
            return SHAPE_IMPORTERS[op_type](self, node, ins)
        handler = IMPORTERS.lookup(op_type)
        if handler is None:
            raise Unsupported("no irc mapping for this ONNX operator")
        return handler(self, node)

    def _check_attributes(self, node: NodeProto) -> None:
        """Unsupported when the node has an attribute that neither its schema at the model's opset nor its
        handler (`EXTRA_ATTRIBUTES`) knows: an older or foreign form is listed, not guessed at."""
        op_type = node.op_type
        if op_type not in self._declared:
            from onnx import defs

            try:
                self._declared[op_type] = set(defs.get_schema(op_type, self.opset, "").attributes)
            except defs.SchemaError:  # an op of no opset (or removed by this one): its handler decides
                self._declared[op_type] = None
        declared = self._declared[op_type]
        if declared is None:
            return
        unknown = [a.name for a in node.attribute
                   if a.name not in declared and a.name not in EXTRA_ATTRIBUTES.get(op_type, ())]
        if unknown:
            raise Unsupported(f"attribute{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
                              f"{'are' if len(unknown) > 1 else 'is'} not part of {op_type} at opset {self.opset}")

    @staticmethod
    def _foldable(node, ins) -> bool:
        """Every input is a constant (and no weight of an op that keeps weights' keys is among them)."""
        consts = [x for x in ins if x is not None]
        if not consts or not all(isinstance(x, Const) and not x.bf16 for x in consts):
            return False
        return not (node.op_type in KEEPS_WEIGHTS and consts[0].init is not None
                    and consts[0].array.dtype.kind == "f")

    def _bind_outputs(self, node, outs) -> None:
        if not isinstance(outs, (list, tuple)):
            outs = [outs]
        for i, o in enumerate(node.output):
            if not o:
                continue
            if i < len(outs) and outs[i] is not None:
                self.env[o] = outs[i]
                if isinstance(outs[i], Value):
                    self.onnx_names.setdefault(id(outs[i]), o)
            else:
                self.env[o] = POISON
                if self._used(o):
                    raise Unsupported(f"output {i} ({o}) is used, but irc does not produce it")

    def _used(self, name: str) -> bool:
        if self._consumed is None:
            self._consumed = {i for n in self.graph.node for i in n.input} | {o.name for o in self.graph.output}
        return name in self._consumed

    def _poison(self, node) -> None:
        for o in node.output:
            self.env[o] = POISON

    def fold(self, node: NodeProto, ins: list) -> list[Const]:
        """Evaluate a node whose inputs are all constants, with ONNX's reference evaluator."""
        from onnx import helper
        from onnx.reference import ReferenceEvaluator

        names = [f"i{k}" if n else "" for k, n in enumerate(node.input)]
        feeds = {f"i{k}": x.array for k, x in enumerate(ins) if x is not None}
        outs = [f"o{k}" for k in range(len(node.output))]
        n2 = helper.make_node(node.op_type, names, outs, domain=node.domain)
        n2.attribute.extend(node.attribute)
        g = helper.make_graph([n2], "fold", [helper.make_tensor_value_info(k, 0, None) for k in feeds],
                              [helper.make_tensor_value_info(o, 0, None) for o in outs])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", self.opset)])
        try:
            res = ReferenceEvaluator(m).run(None, feeds)
        except Exception as e:  # noqa: BLE001  (the reference evaluator raises many kinds)
            raise Unsupported(f"cannot evaluate this constant {node.op_type}: {type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''}") from None
        return [Const(np.asarray(r)) for r in res]

    def fail_node(self, node: NodeProto, reason: str) -> None:
        """Record that `node` cannot be imported; what it defines is poisoned."""
        self._poison(node)
        where = node.name or (node.output[0] if node.output else "?")
        self.fail(node.op_type, reason, f"node {where}")


def _refuse_as_data(x) -> None:
    """Unsupported when an import-time value other than a Const is used as a tensor."""
    if isinstance(x, Shp):
        raise Unsupported("a shape computed at run time (from a dynamic dimension) is used as data; "
                          "irc needs it to be static")
    if isinstance(x, Affine):
        raise Unsupported("index arithmetic over a dynamic dimension is used as data")


def _dense(arr: np.ndarray, dtype: str) -> DenseAttr:
    """A small array as a dense literal (a splat when every element is the same)."""
    vals = arr.tolist()
    if dtype in ("f16", "f32") and arr.size:
        vals = np.vectorize(nice_float, otypes=[object])(arr).tolist()
    if arr.size > 1 and (arr == arr.ravel()[0]).all():
        while isinstance(vals, list):
            vals = vals[0]
    return DenseAttr(vals, TensorType(tuple(arr.shape), dtype))


def _attr_value(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, float):
        return nice_float(value)
    if isinstance(value, list):
        return [x.decode() if isinstance(x, bytes) else nice_float(x) if isinstance(x, float) else x for x in value]
    return value


__all__ = ["IMPORT_PASSES", "OPSET_MAX", "OPSET_MIN", "OnnxImporter", "import_onnx"]
