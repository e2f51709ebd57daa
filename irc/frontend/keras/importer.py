"""The Keras import driver: walk a model's functional graph in topological order and call each layer's
handler from `IMPORTERS` (keyed by the layer's class name).

Functional and Sequential models, several inputs and outputs, and models used as layers (walked in
place) are read. Values are named after the layers that compute them and located at the layer's name;
weights become `nn.param` keyed by their Keras variable path (`conv1/kernel`). Activations stay
channel-last: spatial ops get `layout = "nhwc"` (run `nhwc-to-nchw` for a channel-first graph).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from ...ir import DenseAttr, Func, IrcError, Module, NameLoc, TensorType, Value, WeightStore
from ...ir.core import DENSE_MAX, sanitize_name
from ...ir.dtypes import ir_dtype_of_numpy
from ..core import POISON, Frontend, Poisoned, Unsupported
from .source import import_keras_module, load_keras
from .tables import IMPORTERS


def import_keras(src: str | os.PathLike | object, name: str | None = None,
                 progress: Callable[[str], None] | None = None,
                 warn: Callable[[str], None] | None = None, shapes: Sequence | None = None) -> Module:
    """Import a Keras model (a path to a .keras/.h5 file, or a live keras.Model) as an irc Module.

    A subclassed model (no functional graph) goes through torch.export; `shapes` gives its per-sample input
    shapes ([(H, W, C)]) when it was never built."""
    model = load_keras(src)
    if name is None:
        name = model.name or "keras_model"
    name = sanitize_name(name).replace(".", "_")
    from .subclassed import import_subclassed, is_subclassed  # it builds on this module

    if is_subclassed(model):
        return import_subclassed(model, name, shapes, progress, warn)
    return KerasImporter(model, name, progress, warn).run()


def _ir_dtype(dtype: object) -> str:
    try:
        return ir_dtype_of_numpy(np.zeros(0, np.dtype(str(dtype))))
    except (TypeError, KeyError):
        raise IrcError(f"a model input has dtype {dtype}, which irc does not support") from None


def _dense(arr: np.ndarray, dtype: str) -> DenseAttr:
    """A small array as a dense literal (a splat when every element is the same)."""
    vals = arr.astype(np.float64).tolist() if dtype in ("f16", "f32", "f64") else arr.tolist()
    if arr.size > 1 and (arr == arr.ravel()[0]).all():
        while isinstance(vals, list):
            vals = vals[0]
    return DenseAttr(vals, TensorType(tuple(arr.shape), dtype))


class KerasImporter(Frontend):
    """Builds the IR function of one Keras model; handlers read weights and emit ops through it."""

    noun = "layers"

    def __init__(self, model: object, name: str, progress: Callable[[str], None] | None = None,
                 warn: Callable[[str], None] | None = None):
        super().__init__(name, progress, warn)
        self.keras = import_keras_module()
        self.model = model
        self.store = WeightStore()
        self.layer = None
        self.node = None
        self.weights: dict[tuple, Value] = {}  # (id(variable), how it was reordered) -> its param
        self.count = 0

    # -- what handlers use

    def emit(self, kind: str, operands: Sequence[Value], attrs: dict | None = None) -> Value:
        """nn.KIND for the current layer: named after it, located at its name; returns the first result."""
        return self.emit_results(kind, operands, attrs)[0]

    def emit_results(self, kind: str, operands: Sequence[Value], attrs: dict | None = None) -> list[Value]:
        """As `emit`, returning every result."""
        layer_name = self.layer.name if self.layer is not None else kind
        op = self.emit_op(kind, list(operands), attrs, names=sanitize_name(layer_name), loc=NameLoc(layer_name))
        return list(op.results)

    def weight(self, variable: object, reorder: Callable[[np.ndarray], np.ndarray] | None = None,
               how: str = "") -> Value:
        """The param of a Keras variable, keyed by its path; `reorder` rewrites the array (e.g. transposes a
        Dense kernel) and `how` names that rewrite, so that each form is made once."""
        cache = (id(variable), how)
        if cache in self.weights:
            return self.weights[cache]
        arr = np.asarray(self.keras.ops.convert_to_numpy(variable))
        if reorder is not None:
            arr = np.ascontiguousarray(reorder(arr))
        key = self.store.fresh_key(str(variable.path))
        self.weights[cache] = self._add_param(key, arr)
        return self.weights[cache]

    def constant(self, arr: np.ndarray | float, dtype: str = "f32", what: str = "const") -> Value:
        """A constant made by the importer: inline when small, else a param of its own."""
        arr = np.asarray(arr, dtype=np.float32 if dtype == "f32" else None)
        if arr.size <= DENSE_MAX:
            return self.emit("constant", [], {"value": _dense(arr, ir_dtype_of_numpy(arr))})
        key = self.store.fresh_key(f"{self.layer.name}/{what}")
        return self._add_param(key, arr)

    def new_param(self, arr: np.ndarray, what: str) -> Value:
        """A param made by the importer (not a Keras variable), keyed `LAYER/WHAT`, whatever its size."""
        return self._add_param(self.store.fresh_key(f"{self.layer.name}/{what}"), np.ascontiguousarray(arr))

    def _add_param(self, key: str, arr: np.ndarray) -> Value:
        dtype = ir_dtype_of_numpy(arr)
        self.store.add(key, arr, dtype)
        op = self.emit_op("param", [], {"key": key}, types=[TensorType(tuple(arr.shape), dtype)],
                          names=sanitize_name(key))
        return op.result

    def config(self, key: str, default: object = None) -> object:
        return self.layer.get_config().get(key, default)

    # -- the walk

    def run(self) -> Module:
        try:
            inputs = self.model.inputs
        except AttributeError:  # a Sequential model that was never built
            inputs = None
        if not inputs:
            raise IrcError(f"Keras model {self.model.name} is not built (it has no inputs); build or call it first")
        args = []
        for t in inputs:
            history = getattr(t, "_keras_history", None)
            base = history[0].name if history is not None else getattr(t, "name", "input")
            args.append(Value(sanitize_name(base), TensorType(tuple(t.shape), _ir_dtype(t.dtype))))
        self.func = Func("forward", args, [])
        outs = [v for v in self.walk(self.model, args) if v is not POISON]
        self.layer = None
        self.finish()
        return self.make_module(outs, self.store)

    def walk(self, model: object, values: list) -> list:
        """Import the layers of `model` with its inputs bound to `values`; returns its outputs' values."""
        if isinstance(model, self.keras.Sequential) and getattr(model, "_functional", None) is not None:
            model = model._functional
        env = {id(t): v for t, v in zip(model.inputs, values, strict=True)}
        for depth in sorted(model._nodes_by_depth, reverse=True):
            for node in model._nodes_by_depth[depth]:
                operation = node.operation
                if isinstance(operation, self.keras.layers.InputLayer):
                    continue
                ins = [env[id(t)] for t in node.input_tensors]
                self.node = node  # the call being imported: a handler may read its arguments
                outs = self.import_layer(operation, ins)
                outs = outs if isinstance(outs, (list, tuple)) else [outs]
                for k, t in enumerate(node.output_tensors):
                    env[id(t)] = outs[k] if k < len(outs) else POISON
        return [env[id(t)] for t in model.outputs]

    def import_layer(self, layer: object, ins: list) -> list | Value:
        """One call of `layer`: a nested model is walked in place; a failure is recorded, not raised."""
        if any(v is POISON for v in ins):
            return [POISON] * 8
        if isinstance(layer, self.keras.Model):
            return self.walk(layer, ins)
        self.count += 1
        if self.count % 100 == 0:
            self.progress(f"importing layer {self.count}")
        kind = type(layer).__name__
        if not isinstance(layer, self.keras.layers.Layer):
            kind = f"keras.ops.{kind}"
        handler = IMPORTERS.lookup(kind)
        self.layer = layer
        try:
            if handler is None:
                raise Unsupported("no irc mapping for this Keras layer")
            return handler(self, layer, ins)
        except Poisoned:
            return [POISON] * 8
        except Unsupported as e:
            self.fail(kind, str(e), f"layer {layer.name}")
            return [POISON] * 8


__all__ = ["KerasImporter", "import_keras"]
