"""The Caffe import driver: walk a prototxt's layers in order and call each layer's handler from `IMPORTERS`
(keyed by the layer's type name, "Convolution"; legacy `layers` are read under their current names).

Values are named after the tops they define; a layer that writes its top in place ("relu1" on top
"conv1") gives the new value the layer's name, so every IR value has its own name while the blob name
follows the chain. `importer.source_names` maps each Caffe layer name to the IR value of its (first) top,
which is how OpenCV names a layer's output (`irc.runtimes.opencv`).

Weights: the caffemodel's blobs are matched to layers by name and become `nn.param` keyed `LAYER/INDEX`
(`conv1/0` the weight, `conv1/1` the bias); where the IR wants another form the array is rewritten under
the same key (BatchNorm's mean and variance divided by the third blob's scale factor). Params irc makes
itself are keyed `LAYER/WHAT` (`bn1/weight`, the ones of a BatchNorm without affine).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from ...ir import DenseAttr, Func, IrcError, Module, NameLoc, TensorType, Value, WeightStore
from ...ir.core import DENSE_MAX, sanitize_name
from ...ir.dtypes import ir_dtype_of_numpy
from ...ir.table import OpTable
from ..core import POISON, Frontend, Unsupported
from .source import load_blobs, load_net

IMPORTERS = OpTable("Caffe importer")  # "Convolution" -> fn(importer, layer, ins) -> Value | list[Value]
imports = IMPORTERS.register


def import_caffe(path: str, *, weights: str | None = None, name: str | None = None,
                 progress: Callable[[str], None] | None = None,
                 warn: Callable[[str], None] | None = None) -> Module:
    """Import a Caffe net (`deploy.prototxt`, with its `.caffemodel` as `weights`) as an irc Module. `path`
    may also be a directory holding deploy.prototxt and model.caffemodel (what irc-emit --target caffe writes)."""
    path, weights = resolve_paths(path, weights)
    net = load_net(path)
    blobs = load_blobs(weights) if weights is not None else None
    if name is None:
        name = net.name or os.path.splitext(os.path.basename(path))[0]
    return CaffeImporter(net, blobs, sanitize_name(name).replace(".", "_"), progress, warn).run()


def resolve_paths(path: str, weights: str | None) -> tuple[str, str | None]:
    """(prototxt, caffemodel): a directory stands for its deploy.prototxt and model.caffemodel."""
    if os.path.isdir(path):
        model = os.path.join(path, "model.caffemodel")
        return os.path.join(path, "deploy.prototxt"), weights or (model if os.path.exists(model) else None)
    return path, weights


def _dense(arr: np.ndarray) -> DenseAttr:
    vals = arr.astype(np.float64).tolist()
    if arr.size > 1 and (arr == arr.ravel()[0]).all():
        vals = float(arr.ravel()[0])
    return DenseAttr(vals, TensorType(tuple(arr.shape), ir_dtype_of_numpy(arr)))


class CaffeImporter(Frontend):
    """Builds the IR function of one Caffe net; handlers read blobs and emit ops through it."""

    noun = "layers"

    def __init__(self, net: object, blobs: dict[str, list[np.ndarray]] | None, name: str,
                 progress: Callable[[str], None] | None = None, warn: Callable[[str], None] | None = None):
        super().__init__(name, progress, warn)
        self.net = net
        self.blobs = blobs
        self.store = WeightStore()
        self.env: dict[str, object] = {}  # blob name -> its current Value (or POISON)
        self.source_names: dict[str, str] = {}  # Caffe layer name -> IR value name
        self.layer = None
        self.target = ""  # the name the current layer's result gets

    # -- what handlers use

    def emit(self, kind: str, operands: Sequence[Value], attrs: dict | None = None) -> Value:
        """nn.KIND for the current layer, named after its top and located at its name; the first result."""
        op = self.emit_op(kind, list(operands), attrs, names=self.target, loc=NameLoc(self.layer.name))
        return op.results[0]

    def emit_results(self, kind: str, operands: Sequence[Value], attrs: dict | None = None) -> list[Value]:
        """nn.KIND with several results, each named after the top it defines."""
        names = [sanitize_name(f"{self.layer.name}_{k}" if top in self.env else top)
                 for k, top in enumerate(self.layer.tops)]
        op = self.emit_op(kind, list(operands), attrs, names=names, loc=NameLoc(self.layer.name))
        return list(op.results)

    def blob(self, index: int, reorder: Callable[[np.ndarray], np.ndarray] | None = None) -> Value:
        """The current layer's blob `index` as a param keyed `LAYER/INDEX`; `reorder` rewrites the array."""
        return self._add_param(f"{self.layer.name}/{index}", self.blob_array(index, reorder))

    def blob_array(self, index: int, reorder: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        if self.blobs is None:
            raise IrcError(f"layer {self.layer.name} ({self.layer.type}) has weights: pass the .caffemodel "
                           "(--weights FILE)")
        arrays = self.blobs.get(self.layer.name, [])
        if index >= len(arrays):
            raise Unsupported(f"the caffemodel has no blob {index} for this layer ({len(arrays)} found)")
        arr = arrays[index]
        return np.ascontiguousarray(reorder(arr) if reorder is not None else arr, dtype=np.float32)

    def has_blob(self, index: int) -> bool:
        return self.blobs is not None and index < len(self.blobs.get(self.layer.name, []))

    def new_param(self, arr: np.ndarray, what: str) -> Value:
        """A param irc makes for the current layer, keyed `LAYER/WHAT`."""
        return self._add_param(f"{self.layer.name}/{what}", np.ascontiguousarray(arr, dtype=np.float32))

    def constant(self, arr: np.ndarray | float, what: str = "const") -> Value:
        """A float32 constant: inline when small, else a param of its own."""
        arr = np.asarray(arr, dtype=np.float32)
        if arr.size <= DENSE_MAX:
            return self.emit("constant", [], {"value": _dense(arr)})
        return self.new_param(arr, what)

    def add_input(self, blob: str, shape: Sequence[int]) -> Value:
        """A function argument for the input blob `blob`."""
        if not shape:
            raise IrcError(f"input {blob} of {self.name} has no shape (give input_shape or input_dim)")
        arg = Value(self.func.unique_name(sanitize_name(blob)), TensorType(tuple(int(d) for d in shape), "f32"))
        self.func.args.append(arg)
        self.env[blob] = arg
        return arg

    def _add_param(self, key: str, arr: np.ndarray) -> Value:
        key = self.store.fresh_key(key)
        self.store.add(key, arr, "f32")
        op = self.emit_op("param", [], {"key": key}, types=[TensorType(tuple(arr.shape), "f32")],
                          names=sanitize_name(key.replace("/", "_")))
        return op.result

    # -- the walk

    def run(self) -> Module:
        from ...formats.caffe import layers

        self.func = Func("forward", [], [])
        self._legacy_inputs()
        consumed: set[int] = set()
        for count, layer in enumerate(layers(self.net), 1):
            if count % 100 == 0:
                self.progress(f"importing layer {count}")
            ins = [self._bottom(layer, b) for b in layer.bottoms]
            consumed.update(id(v) for v in ins)
            self.import_layer(layer, ins)
        self.layer = None
        self.finish()
        outs = self._outputs(consumed)
        if not self.func.args:
            raise IrcError(f"{self.name} has no inputs (no Input layer, no input: field)")
        return self.make_module(outs, self.store)

    def _legacy_inputs(self) -> None:
        """`input: "data"` with `input_shape { dim: ... }` or four `input_dim:` per input."""
        net = self.net
        for i, blob in enumerate(net.input):
            if i < len(net.input_shape):
                shape = list(net.input_shape[i].dim)
            else:
                shape = list(net.input_dim[4 * i: 4 * i + 4])
            self.add_input(blob, shape)

    def _bottom(self, layer: object, blob: str) -> object:
        if blob not in self.env:
            raise IrcError(f"layer {layer.name} reads blob '{blob}', which no earlier layer or input defines")
        return self.env[blob]

    def _outputs(self, consumed: set[int]) -> list[Value]:
        """Every blob's last value that no layer reads: the net's outputs, in the order they were made."""
        outs = [v for v in self.env.values() if isinstance(v, Value) and id(v) not in consumed]
        args = {id(a) for a in self.func.args}
        return [v for v in outs if id(v) not in args]

    def import_layer(self, layer: object, ins: list) -> None:
        """One layer: its tops bound to what its handler returns; a failure is recorded, not raised."""
        self.layer = layer
        first = layer.tops[0] if layer.tops else layer.name
        self.target = sanitize_name(layer.name if first in self.env else first)
        start = len(self.func.ops)
        outs = self._call(layer, ins)
        if isinstance(outs, Value):
            self.take_name(outs, start, self.target)
        if not isinstance(outs, (list, tuple)):
            outs = [outs] * len(layer.tops)
        for k, top in enumerate(layer.tops):
            self.env[top] = outs[k] if k < len(outs) else POISON
        if layer.tops and isinstance(self.env[layer.tops[0]], Value) and ins:
            self.source_names[layer.name] = self.env[layer.tops[0]].name

    def _call(self, layer: object, ins: list) -> object:
        if any(v is POISON for v in ins):
            return POISON
        return self.dispatch(IMPORTERS, layer.type, "Caffe layer type", f"layer {layer.name}", layer, ins)


__all__ = ["IMPORTERS", "CaffeImporter", "import_caffe", "imports", "resolve_paths"]
