"""Subclassed Keras models (no functional graph to walk) through torch.export on Keras' torch backend.

A Keras 3 model on the torch backend is an `nn.Module` whose `call` runs torch ops, so torch.export traces
it (`KerasCall` wraps it for export: export deep-copies what it traces, and Keras cannot copy a subclassed
model). `KerasExportImporter` then imports the exported graph:

- each call of a Keras layer irc has a handler for (one tensor in, one out: nodes grouped by the layer call
  `nn_module_stack` records) goes through the functional importer's handler, so Conv2D, BatchNormalization,
  Dense, pools ... become the same channel-last ops (`layout = "nhwc"`, HWIO kernels) a functional model gets;
- everything else (the model's own keras.ops code, custom layers, a call a handler gives up on) is imported
  op by op from the export, located at the model's source line;
- the tensors Keras hands to torch, which export lifts into constants, become `nn.param` keyed by the Keras
  variable path (`m/conv/kernel`), matched by storage (or, when export holds a permuted copy of a variable,
  by value against the variable's permutations: the param and a transpose).

Values are named after the Keras layers and located at them. Run `nhwc-to-nchw,canonicalize,fuse-bn,
fold-constants,cse,dce` for NCHW PyTorch: no transpose is left but the one at the NHWC input.
"""

from __future__ import annotations

import itertools
import os
import re
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ...ir import IrcError, Module, NameLoc, Value, WeightStore, verify
from ...ir.core import sanitize_name
from ...ir.dtypes import torch_dtype
from ..torch.export import decompose, export, full_stack_traces, quiet_torch
from ..torch.importer import TorchImporter, frame_loc
from .importer import KerasImporter
from .source import import_keras_module
from .tables import IMPORTERS


class KerasCall(torch.nn.Module):
    """`model(*xs, training=False)` as an nn.Module torch.export can copy: a copy wraps the SAME Keras model
    (Keras deep-copies through its config, which a subclassed model may not have; export only reads it)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, *xs: torch.Tensor) -> object:
        return self.model(*xs, training=False)

    def __deepcopy__(self, memo: dict) -> KerasCall:
        return KerasCall(self.model)


def is_subclassed(model: object) -> bool:
    """Whether `model` is a subclassed keras.Model: neither Sequential nor a functional graph."""
    return not isinstance(model, import_keras_module().Sequential) and getattr(model, "_nodes_by_depth", None) is None


def input_types(model: object, shapes: Sequence | None) -> list[tuple[tuple[int, ...], str]]:
    """The per-sample input shapes (without the batch), from `shapes` or from the shapes the model was built
    with; an unbuilt model without `shapes` is an IrcError."""
    if shapes is not None:
        return [_shape_and_dtype(entry) for entry in shapes]
    built = getattr(model, "_build_shapes_dict", None) or {}
    if not getattr(model, "built", False) or not built:
        raise IrcError(f"Keras model {model.name} is a subclassed model that was never built: call it once on "
                       "an example input, or give the per-sample input shapes (shapes=[(H, W, C)])")
    out = []
    for shape in built.values():
        dims = tuple(shape)[1:]
        if any(d is None for d in dims):
            raise IrcError(f"Keras model {model.name} was built with the input shape {tuple(shape)}, which has "
                           "unknown dimensions: give the per-sample input shapes (shapes=[(H, W, C)])")
        out.append((tuple(int(d) for d in dims), "f32"))
    return out


def _shape_and_dtype(entry: object) -> tuple[tuple[int, ...], str]:
    if len(entry) == 2 and isinstance(entry[1], str):
        return tuple(int(d) for d in entry[0]), entry[1]
    return tuple(int(d) for d in entry), "f32"


def import_subclassed(model: object, name: str, shapes: Sequence | None = None,
                      progress: Callable[[str], None] | None = None,
                      warn: Callable[[str], None] | None = None) -> Module:
    """Import a subclassed keras.Model (torch backend) through torch.export; `shapes` are the per-sample input
    shapes (default: those the model was built with). An unbuilt model is built by calling it once on zeros."""
    progress = progress or (lambda msg: None)
    warn = warn or (lambda msg: warnings.warn(msg, stacklevel=2))
    if not isinstance(model, torch.nn.Module):
        raise IrcError(f"Keras model {model.name} is a subclassed model: irc imports it through torch.export, "
                       "which needs Keras' torch backend (KERAS_BACKEND=torch)")
    types = input_types(model, shapes)
    if not model.built:  # build it as Keras does on a first call (export cannot create variables)
        with torch.no_grad():
            model(*[torch.zeros((1,) + shape, dtype=torch_dtype(dtype)) for shape, dtype in types], training=False)
    progress("exporting with torch.export")
    with quiet_torch(), full_stack_traces():
        ep, root = export(KerasCall(model), types, 1, warn)
    progress("decomposing to ATen")
    ep = decompose(ep)
    importer = KerasExportImporter(ep, root, name, model, progress, warn)
    with quiet_torch():
        module = importer.run()
    progress(f"{importer.layer_count} Keras layer calls imported whole, the rest op by op")
    verify(module)
    return module


class LayerCall:
    """One call of a Keras layer in the exported graph: its nodes, its one tensor input and its one output."""

    def __init__(self, layer: object, nodes: list, source: torch.fx.Node, output: torch.fx.Node):
        self.layer, self.nodes, self.source, self.output = layer, nodes, source, output


class StagedWeights:
    """A weight store's new tensors held back until `commit` (or dropped by `discard`): what a handler that
    gives up half-way made leaves no tensor behind."""

    def __init__(self, store: WeightStore):
        self.store = store
        self.pending: dict = {}

    def fresh_key(self, base: str) -> str:
        key, i = base, 0
        while self.store.has(key) or key in self.pending:
            i += 1
            key = f"{base}_{i}"
        return key

    def add(self, key: str, array: np.ndarray, dtype: str | None = None) -> None:
        self.pending[key] = (array, dtype)

    def commit(self) -> None:
        for key, (array, dtype) in self.pending.items():
            self.store.add(key, array, dtype)
        self.pending.clear()

    def discard(self) -> None:
        self.pending.clear()


class LayerHandlers(KerasImporter):
    """The Keras layer handlers' view of a KerasExportImporter: their ops go into its function, their params
    (keyed by the Keras variable paths, as the functional importer keys them) into its weight store once the
    call is imported."""

    def __init__(self, outer: KerasExportImporter):
        super().__init__(None, outer.name, outer.progress, outer.warn)
        self.store = StagedWeights(outer.weights)
        self.func = outer.func
        self.failures = outer.failures


class KerasExportImporter(TorchImporter):
    """A TorchImporter whose params are the Keras variables, keyed by their paths, whose Keras layer calls
    go through the functional importer's layer handlers (channel-last ops, as a functional model gets), and
    whose values and locations are named after the Keras layers. What a handler cannot take whole (the
    model's own keras.ops code, a layer with several inputs) is imported op by op from the export."""

    def __init__(self, ep: torch.export.ExportedProgram, root: torch.nn.Module, name: str, model: object,
                 progress: Callable[[str], None], warn: Callable[[str], None]):
        super().__init__(ep, root, name, progress, warn)
        self.keras = import_keras_module()
        self.variables = list(model.variables)
        self.variable_of: dict = {}  # placeholder node -> (Keras variable, permutation export folded in or None)
        self.calls: dict = {}  # output node of a layer call -> LayerCall
        self.inside: set = set()  # the other nodes of those calls (imported by the handler, not one by one)
        self.handlers: LayerHandlers | None = None
        self.layer_count = 0

    # -- params: the Keras variables

    def _bind_placeholders(self) -> tuple[list, list]:
        args, fakes = super()._bind_placeholders()
        by_storage = {_storage(v.value): v for v in self.variables}
        unnamed = []
        for node in [n for n in self.folded if n.op == "placeholder"]:
            t = self.folded[node]
            var, perm = by_storage.get(_storage(t)), None
            if var is not None and tuple(var.value.shape) != tuple(t.shape):
                var = None
            if var is None:
                var, perm = self._permuted_variable(t)
            if var is None:
                unnamed += [node.name] if t.numel() > 1 else []
                continue
            del self.folded[node]
            self.param_nodes[node] = (str(var.path), var.value.detach())
            self.variable_of[node] = (var, perm)
        if unnamed:
            self.warn(f"{len(unnamed)} constants of the exported program match no Keras variable (nor a "
                      f"permutation of one); they stay unnamed constants: {', '.join(unnamed[:8])}")
        self._plan_calls()
        return args, fakes

    def _permuted_variable(self, t: torch.Tensor) -> tuple[object, tuple | None]:
        """The Keras variable `t` is a permutation of (by value), and that permutation; (None, None) if none."""
        for var in self.variables:
            value = var.value.detach()
            if value.dim() != t.dim() or value.dim() < 2 or sorted(value.shape) != sorted(t.shape):
                continue
            for perm in itertools.permutations(range(value.dim())):
                if tuple(value.shape[p] for p in perm) == tuple(t.shape) and torch.equal(value.permute(perm), t):
                    return var, perm
        return None, None

    def param(self, node: torch.fx.Node) -> Value:
        if node not in self.variable_of:
            return super().param(node)
        var, perm = self.variable_of[node]
        value = self._handlers().weight(var)
        self.handlers.store.commit()
        if perm is None:
            return value
        key = ("permuted", node)
        if key not in self.env:
            saved, self.node = self.node, node
            self.env[key] = self.emit("transpose", [value], {"perm": list(perm)})
            self.node = saved
        return self.env[key]

    def _handlers(self) -> LayerHandlers:
        if self.handlers is None:
            self.handlers = LayerHandlers(self)
        return self.handlers

    # -- Keras layer calls: through the layer handlers

    def _innermost(self, node: torch.fx.Node) -> tuple[str, object] | None:
        """(nn_module_stack key, Keras layer) of the innermost Keras layer call `node` belongs to."""
        stack = list((node.meta.get("nn_module_stack") or {}).items())
        for key, (path, _) in reversed(stack):
            if not isinstance(path, str) or path in ("", "model"):
                continue
            try:
                layer = self.root.get_submodule(path)
            except (AttributeError, TypeError):
                continue
            if layer is not self.root.model:
                return key, layer
        return None

    def _plan_calls(self) -> None:
        """Find the layer calls a Keras handler can import whole: one tensor input, one output used outside."""
        groups: dict = {}
        for node in self.ep.graph.nodes:
            found = self._innermost(node) if node.op == "call_function" else None
            if found is not None:
                groups.setdefault(found[0], (found[1], []))[1].append(node)
        for layer, nodes in groups.values():
            if not self._whole(layer):
                continue
            members = set(nodes)
            sources = list(dict.fromkeys(a for n in nodes for a in n.all_input_nodes
                                         if a not in members and a not in self.param_nodes and a not in self.folded))
            outputs = [n for n in nodes if any(u not in members for u in n.users)]
            if len(sources) == 1 and len(outputs) == 1:
                self.calls[outputs[0]] = LayerCall(layer, nodes, sources[0], outputs[0])
                self.inside |= members - {outputs[0]}

    def _whole(self, layer: object) -> bool:
        """Whether a call of `layer` may go through its handler: one with a handler, that is not a model and
        does not merge several tensors (`Add()([x, x])` reads one tensor twice: it would look like one input)."""
        merging = [c for c in type(layer).__mro__ if c.__name__ == "Merge" and c.__module__.startswith("keras.")]
        return not isinstance(layer, self.keras.Model) and not merging \
            and IMPORTERS.lookup(type(layer).__name__) is not None

    def import_node(self, node: torch.fx.Node) -> None:
        if node in self.inside:
            return
        call = self.calls.get(node)
        if call is not None and self._import_call(call):
            return
        if call is not None:  # the handler could not take it: the call's nodes one by one
            for member in call.nodes:
                self._import_one(member)
            return
        self._import_one(node)

    def _import_one(self, node: torch.fx.Node) -> None:
        layer = self._innermost(node)
        name = str(getattr(layer[1], "name", "")) if layer is not None else ""
        self.loc = NameLoc(name) if name else frame_loc(_without_keras(node.meta.get("stack_trace")))
        self.node = node
        super().import_node(node)

    def _import_call(self, call: LayerCall) -> bool:
        """Import a layer call with its Keras handler; False (and nothing emitted) if the handler cannot."""
        source = self.env.get(call.source)
        fake = call.output.meta.get("val")
        if not isinstance(source, Value) or not isinstance(fake, torch.Tensor):
            return False
        handlers = self._handlers()
        mark, cached = len(self.func.ops), dict(handlers.weights)
        handlers.layer = call.layer
        try:
            out = IMPORTERS.lookup(type(call.layer).__name__)(handlers, call.layer, [source])
            out = out[0] if isinstance(out, (list, tuple)) else out
            if isinstance(out, Value) and out.type.shape == tuple(fake.shape):
                self.env[call.output] = out
                handlers.store.commit()
                self.layer_count += 1
                return True
        except Exception:  # noqa: BLE001  (a handler meeting a call it was not written for: import it op by op)
            pass
        self._roll_back(mark, cached)
        return False

    def _roll_back(self, mark: int, cached: dict) -> None:
        """Drop the ops appended after `mark` and the params made since (the handlers' cache back to `cached`)."""
        for op in reversed(self.func.ops[mark:]):
            op.drop_operands()
        del self.func.ops[mark:]
        self.func.rebuild_names()
        self.handlers.weights = cached
        self.handlers.store.discard()

    # -- names: the Keras layers

    def base_name(self, node: torch.fx.Node, kind: str) -> str:
        layer = self._innermost(node)
        return sanitize_name(str(getattr(layer[1], "name", "") or kind) if layer is not None else kind)


def _without_keras(stack_trace: str | None) -> str | None:
    """A stack trace without Keras' own frames: the model's code calling keras.ops is what a location names."""
    if not stack_trace:
        return stack_trace
    keras_dir = os.path.dirname(os.path.abspath(import_keras_module().__file__))
    frames = re.split(r"(?m)^(?=\s*File \")", stack_trace)
    kept = [f for f in frames if not _frame_path(f).startswith(keras_dir + os.sep)]
    return "".join(kept)


def _frame_path(frame: str) -> str:
    found = re.search(r'File "([^"]+)"', frame)
    return os.path.abspath(found.group(1)) if found else ""


def _storage(t: torch.Tensor) -> tuple:
    return (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.stride()))


__all__ = ["KerasCall", "KerasExportImporter", "LayerHandlers", "import_subclassed", "input_types", "is_subclassed"]
