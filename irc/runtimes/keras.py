"""A Keras model (`.keras` file, or a folder irc-emit wrote) run by Keras 3 (the torch backend unless
KERAS_BACKEND says otherwise): the target of `irc-check --keras` and a bisection runtime.

Intermediate values come from a second `keras.Model` over the loaded functional graph whose outputs are every
layer's output. Names: a layer irc emitted is named after the IR value it computes, made an identifier
(`%layer1.0.conv1` → `layer1_0_conv1`); with `module` the runtime maps those back to the IR's names, with
`names` ({Keras layer name: IR name}) it uses that map, else the layer names are the names. Tensors come back
in Keras' layout (channels-last); `irc.check` and `irc.bisect` transpose where needed.
"""

from __future__ import annotations

import importlib.util
import os
import zipfile
from typing import TYPE_CHECKING

from ..ir import IrcError

if TYPE_CHECKING:
    from collections.abc import Iterator

    import torch

    from ..ir import Module

MODEL_FILE = "model.keras"
CUSTOM_LAYER = "irc>IrcWeight"  # the one custom class irc's model.py may define


def _keras() -> object:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError:
        raise IrcError("running a Keras model needs keras (pip install 'irc[keras]')") from None
    return keras


def _custom_objects(path: str) -> dict | None:
    """CUSTOM_OBJECTS of the model.py beside a .keras irc wrote with its custom layer (None when not needed)."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = archive.read("config.json").decode("utf-8", "replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        return None
    source = os.path.join(os.path.dirname(os.path.abspath(path)), "model.py")
    if CUSTOM_LAYER not in config or not os.path.isfile(source):
        return None
    spec = importlib.util.spec_from_file_location("irc_emitted_keras_model", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, "CUSTOM_OBJECTS", None)


def load_model(path: str) -> object:
    """The keras.Model of a .keras file, or of `model.keras` in a folder."""
    keras = _keras()
    if os.path.isdir(path):
        path = os.path.join(path, MODEL_FILE)
    if not os.path.isfile(path):
        raise IrcError(f"{path}: no such file")
    try:
        return keras.saving.load_model(path, custom_objects=_custom_objects(path), compile=False)
    except Exception as e:  # noqa: BLE001  (keras raises many kinds for files it cannot read)
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise IrcError(f"{path}: keras cannot load this model: {first}") from None


def _tensor_type(tensor: object) -> object:
    import numpy as np

    from ..ir import TensorType
    from ..ir.dtypes import ir_dtype_of_numpy

    return TensorType(tuple(tensor.shape), ir_dtype_of_numpy(np.zeros(0, np.dtype(str(tensor.dtype)))))


class KerasRuntime:
    """A Keras model in Keras. `module`: the IR the file was emitted from (maps layer names back to IR names);
    `names`: {Keras layer name: IR name} for a source file; `weights` is not used."""

    channels_last = True  # Keras computes channel-last (see irc.runtimes)

    def __init__(self, path: str, module: Module | None = None, names: dict[str, str] | None = None,
                 weights: str | None = None):
        self.keras = _keras()
        self.path = path
        self.model = load_model(path)
        self.names = names if names is not None else self._module_names(module)
        self.input_types = [_tensor_type(t) for t in self.model.inputs]
        self.output_names = [self._name(t._keras_history[0].name) for t in self.model.outputs]
        self._probe = None

    @staticmethod
    def source_names(path: str, weights: str | None = None) -> dict[str, str]:
        """{Keras layer name: IR value name} of a fresh import of a Keras file: the value each layer's output
        became (a layer that passes its input through, like Dropout, names none)."""
        from ..frontend.keras import KerasImporter
        from ..ir.core import sanitize_name

        model = load_model(path)
        found: dict[str, str] = {}

        class Recording(KerasImporter):
            def import_layer(self, layer: object, ins: list) -> list | object:
                outs = super().import_layer(layer, ins)
                first = outs[0] if isinstance(outs, (list, tuple)) and outs else outs
                if getattr(first, "owner", None) is not None and all(first is not v for v in ins):
                    found.setdefault(layer.name, first.name)
                return outs

        Recording(model, sanitize_name(model.name or "keras_model").replace(".", "_")).run()
        return found

    @staticmethod
    def _module_names(module: Module | None) -> dict[str, str] | None:
        if module is None:
            return None
        from ..backend.keras.emitter import ident

        found: dict[str, list[str]] = {}
        for value in module.main.values():
            found.setdefault(ident(value.name), []).append(value.name)
        return {k: v[0] for k, v in found.items() if len(v) == 1}

    def _name(self, layer_name: str) -> str | None:
        return layer_name if self.names is None else self.names.get(layer_name)

    def _run(self, model: object, inputs: list) -> list:
        import torch

        arrays = [x.detach().cpu().numpy() for x in inputs]
        out = model(arrays[0] if len(arrays) == 1 else arrays, training=False)
        outs = out if isinstance(out, (list, tuple)) else [out]
        return [torch.as_tensor(self.keras.ops.convert_to_numpy(o)) for o in outs]

    def __call__(self, *inputs: torch.Tensor) -> list[torch.Tensor]:
        return self._run(self.model, list(inputs))

    def _probe_model(self) -> tuple[object, list[str]]:
        """A model over the same graph whose outputs are every layer's first output, and their layer names."""
        if self._probe is None:
            tensors, names = [], []
            for operation in self.model.operations:
                nodes = getattr(operation, "_inbound_nodes", [])
                if isinstance(operation, self.keras.layers.InputLayer) or len(nodes) != 1:
                    continue
                outs = nodes[0].output_tensors
                if outs:
                    tensors.append(outs[0])
                    names.append(operation.name)
            self._probe = (self.keras.Model(self.model.inputs, tensors), names)
        return self._probe

    def run_named(self, inputs: list[torch.Tensor],
                  want: set[str] | None = None) -> Iterator[tuple[str, torch.Tensor]]:
        probe, layer_names = self._probe_model()
        for layer_name, tensor in zip(layer_names, self._run(probe, inputs), strict=True):
            name = self._name(layer_name)
            if name is not None and (want is None or name in want):
                yield name, tensor
