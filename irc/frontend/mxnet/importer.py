"""The MXNet import driver: walk a symbol's nodes in order (MXNet writes them topologically) and call each
node's handler from `IMPORTERS` (keyed by the MXNet op name, "Convolution"), as `fn(importer, node, ins)`
with `ins` the IR values of the node's inputs; it returns the value (or values) of the node's outputs.

Variables: those the .params file holds (`arg:NAME`, `aux:NAME`, or a bare NAME as Gluon's
`save_parameters` writes) become `nn.param` keyed NAME where a node first reads them; the others are the
function's arguments, shaped by their `__shape__` attribute (irc writes it; `mx.sym.var(name, shape=...)`
too) or by `shapes={name: shape}`. Values are named after the nodes that compute them and located at the
node's name; `importer.source_names` maps node names (and `NODE_output<K>` for the K-th output of several)
to IR value names, which is how `irc.runtimes.mxnet` names MXNet's internal outputs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ...formats.mxnet import load_params, parse_bool, parse_float, parse_ints
from ...ir import DenseAttr, Func, IrcError, Module, NameLoc, TensorType, Value, WeightStore
from ...ir.core import DENSE_MAX, sanitize_name
from ...ir.dtypes import ir_dtype_of_numpy
from ...ir.table import OpTable
from ..core import POISON, Frontend, Unsupported
from .source import load_symbol

IMPORTERS = OpTable("MXNet importer")  # "Convolution" -> fn(importer, node, ins) -> Value | list[Value]
imports = IMPORTERS.register

MXNET_DTYPES = {"0": "f32", "1": "f64", "2": "f16", "3": "u8", "4": "i32", "5": "i8", "6": "i64"}


@dataclass
class Node:
    """One node of the symbol: its op, name and attribute strings (read with the typed getters)."""

    index: int
    op: str
    name: str
    attrs: dict = field(default_factory=dict)
    inputs: list = field(default_factory=list)

    def text(self, key: str, default: str | None = None) -> str | None:
        return self.attrs.get(key, default)

    def ints(self, key: str, default: Sequence[int] | None = None) -> list | None:
        try:
            return parse_ints(self.attrs.get(key), default)
        except IrcError as e:
            raise Unsupported(f"attribute {key}: {e}") from None

    def integer(self, key: str, default: int) -> int:
        value = self.ints(key, [default])
        return int(value[0])

    def flag(self, key: str, default: bool = False) -> bool:
        return parse_bool(self.attrs.get(key), default)

    def number(self, key: str, default: float) -> float:
        try:
            return parse_float(self.attrs.get(key), default)
        except IrcError as e:
            raise Unsupported(f"attribute {key}: {e}") from None


def _node(index: int, raw: dict) -> Node:
    attrs = {}
    for key in ("param", "attr", "attrs"):  # older symbols write param / attr
        attrs.update({k: str(v) for k, v in (raw.get(key) or {}).items()})
    return Node(index, raw["op"], raw["name"], attrs, [tuple(e[:2]) for e in raw.get("inputs", [])])


def import_mxnet(path: str, *, weights: str | None = None, name: str | None = None,
                 progress: Callable[[str], None] | None = None, warn: Callable[[str], None] | None = None,
                 shapes: Mapping[str, Sequence[int]] | None = None) -> Module:
    """Import an MXNet symbol (`model-symbol.json`, with its `.params` as `weights`) as an irc Module. `path`
    may also be a directory holding model-symbol.json and model-0000.params (what irc-emit --target mxnet
    writes). `shapes` gives input shapes the symbol does not record."""
    return open_importer(path, weights, name, progress, warn, shapes).run()


def resolve_paths(path: str, weights: str | None) -> tuple[str, str | None]:
    """(symbol, params): a directory stands for its model-symbol.json and model-0000.params."""
    if os.path.isdir(path):
        params = os.path.join(path, "model-0000.params")
        return os.path.join(path, "model-symbol.json"), weights or (params if os.path.exists(params) else None)
    return path, weights


def open_importer(path: str, weights: str | None = None, name: str | None = None,
                  progress: Callable[[str], None] | None = None, warn: Callable[[str], None] | None = None,
                  shapes: Mapping[str, Sequence[int]] | None = None) -> MxnetImporter:
    """The importer of a symbol and its params, ready to `run`."""
    path, weights = resolve_paths(os.fspath(path), weights)
    graph = load_symbol(path)
    params = load_params(weights) if weights is not None else None
    if name is None:
        name = os.path.basename(path).removesuffix(".json").removesuffix("-symbol") or "mxnet_model"
    return MxnetImporter(graph, params, sanitize_name(name).replace(".", "_"), progress, warn, shapes)


def _dense(arr: np.ndarray) -> DenseAttr:
    vals = arr.astype(np.float64).tolist()
    if arr.size > 1 and (arr == arr.ravel()[0]).all():
        vals = float(arr.ravel()[0])
    return DenseAttr(vals, TensorType(tuple(arr.shape), ir_dtype_of_numpy(arr)))


class MxnetImporter(Frontend):
    """Builds the IR function of one symbol; handlers read weights and emit ops through it."""

    noun = "nodes"

    def __init__(self, graph: dict, params: dict[str, np.ndarray] | None, name: str,
                 progress: Callable[[str], None] | None = None, warn: Callable[[str], None] | None = None,
                 shapes: Mapping[str, Sequence[int]] | None = None):
        super().__init__(name, progress, warn)
        self.nodes = [_node(i, raw) for i, raw in enumerate(graph["nodes"])]
        self.heads = [tuple(e[:2]) for e in graph["heads"]]
        self.params = None if params is None else {k.split(":", 1)[-1]: v for k, v in params.items()}
        self.shapes = dict(shapes or {})
        self.store = WeightStore()
        self.env: dict[tuple[int, int], object] = {}  # (node, output) -> Value (or POISON)
        self.arrays: dict[int, np.ndarray] = {}  # id(param value) -> its array
        self.source_names: dict[str, str] = {}  # MXNet node name (NODE_output<K>) -> IR value name
        self.node: Node | None = None
        self.target = ""

    # -- what handlers use

    def emit(self, kind: str, operands: Sequence[Value], attrs: dict | None = None) -> Value:
        """nn.KIND for the current node, named after it and located at its name; the first result."""
        op = self.emit_op(kind, list(operands), attrs, names=self.target, loc=NameLoc(self.node.name))
        return op.results[0]

    def emit_results(self, kind: str, operands: Sequence[Value], attrs: dict | None = None) -> list[Value]:
        op = self.emit_op(kind, list(operands), attrs, names=self.target, loc=NameLoc(self.node.name))
        return list(op.results)

    def array(self, value: Value) -> np.ndarray:
        """The array of a weight input (a variable the .params file holds)."""
        if id(value) not in self.arrays:
            raise Unsupported(f"input %{value.name} must be a weight held by the .params file")
        return self.arrays[id(value)]

    def is_weight(self, value: Value) -> bool:
        return id(value) in self.arrays

    def new_param(self, arr: np.ndarray, what: str) -> Value:
        """A param irc makes for the current node (a weight in the form the IR wants), keyed `NODE/WHAT`."""
        return self._add_param(f"{self.node.name}/{what}", np.ascontiguousarray(arr, dtype=np.float32))

    def constant(self, arr: np.ndarray | float, what: str = "const") -> Value:
        """A float32 constant: inline when small, else a param of its own."""
        arr = np.asarray(arr, dtype=np.float32)
        if arr.size <= DENSE_MAX:
            op = self.emit_op("constant", [], {"value": _dense(arr)}, names=f"{self.target}_{what}")
            return op.results[0]
        return self.new_param(arr, what)

    def _add_param(self, key: str, arr: np.ndarray) -> Value:
        key = self.store.fresh_key(key)
        dtype = ir_dtype_of_numpy(arr) or "f32"
        self.store.add(key, arr, dtype)
        op = self.emit_op("param", [], {"key": key}, types=[TensorType(tuple(arr.shape), dtype)],
                          names=sanitize_name(key.replace("/", "_")))
        self.arrays[id(op.result)] = arr
        return op.result

    # -- the walk

    def run(self) -> Module:
        self.func = Func("forward", [], [])
        self._arguments()
        for count, node in enumerate(self.nodes, 1):
            if count % 100 == 0:
                self.progress(f"importing node {count}")
            if node.op != "null":
                self.import_node(node)
        self.node = None
        self.finish()
        outs = [self.env.get(e) for e in self.heads]
        if any(not isinstance(v, Value) for v in outs):
            raise IrcError(f"{self.name}: an output of the symbol is not computed")
        return self.make_module(outs, self.store)

    def _arguments(self) -> None:
        """Function arguments for the variables the params do not hold."""
        for node in self.nodes:
            if node.op != "null" or (self.params is not None and node.name in self.params):
                continue
            shape = self.shapes.get(node.name) or node.ints("__shape__")
            if not shape or any(d is None or d <= 0 for d in shape):
                hint = (" (nor is it in the .params file)" if self.params is not None
                        else " (a weight? pass the .params file: --weights FILE)")
                raise IrcError(f"{self.name}: input {node.name} has no shape{hint}; give it a __shape__ attribute "
                               "in the symbol or shapes={name: shape}")
            dtype = MXNET_DTYPES.get(node.text("__dtype__", "0"), "f32")
            arg = Value(self.func.unique_name(sanitize_name(node.name)), TensorType(tuple(shape), dtype))
            self.func.args.append(arg)
            self.env[(node.index, 0)] = arg

    def _input(self, entry: tuple[int, int]) -> object:
        if entry not in self.env:  # a weight variable, made a param where it is first read
            source = self.nodes[entry[0]]
            if source.op != "null":  # an output of a node that failed
                return POISON
            saved, self.node = self.node, source
            self.env[entry] = self._add_param(source.name, np.asarray(self.params[source.name]))
            self.node = saved
        return self.env[entry]

    def import_node(self, node: Node) -> None:
        """One node: its outputs bound to what its handler returns; a failure is recorded, not raised."""
        self.node, self.target = node, sanitize_name(node.name)
        ins = [self._input(e) for e in node.inputs]
        start = len(self.func.ops)
        outs = self._call(node, ins)
        if isinstance(outs, Value):
            self.take_name(outs, start, self.target)
            outs = [outs]
        if not isinstance(outs, (list, tuple)):
            self.env[(node.index, 0)] = POISON
            return
        for k, value in enumerate(outs):
            self.env[(node.index, k)] = value
            self.source_names[node.name if k == 0 else f"{node.name}_output{k}"] = value.name

    def _call(self, node: Node, ins: list) -> object:
        if any(v is POISON for v in ins):
            return POISON
        return self.dispatch(IMPORTERS, node.op, "MXNet op", f"node {node.name}", node, ins)


__all__ = ["IMPORTERS", "MxnetImporter", "Node", "import_mxnet", "imports", "open_importer", "resolve_paths"]
