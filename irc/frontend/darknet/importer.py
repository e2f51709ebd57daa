"""The Darknet import driver: read the cfg, then call each layer section's handler from `IMPORTERS` (keyed by
the section name: "convolutional", "maxpool", "route", ...) in order, handing out the `.weights` floats as
the layers take them.

The graph is NCHW, as Darknet computes it: the input `data` is 1 x channels x height x width from `[net]`.
Layer i's values are named after its index and type (`conv_3`, `conv_3_bn`, `conv_3_leaky`, `route_9`);
params are keyed per layer (`conv_3.weight`, `conv_3.bias`, `conv_3.bn.running_mean`); every op is located
at its section's cfg line. `importer.source_names` maps OpenCV's layer names (`conv_3`, `bn_3`, `leaky_4`,
`pool_5`, `concat_9`, ...) to the IR values that hold the same tensor, for `irc-check --bisect`.
The outputs are the feature maps entering the `[yolo]`/`[region]` heads (OpenCV's decoding, thresholding and
NMS of boxes are left to the caller), or the last layer's output when there is no head.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from ...ir import FileLoc, Func, IrcError, Module, TensorType, Value, WeightStore
from ...ir.core import sanitize_name
from ...ir.table import OpTable
from ..core import POISON, Frontend, Poisoned, Unsupported
from .cfg import Section, read_cfg
from .source import WeightsReader, default_weights

# section name -> handler(importer, section) -> Value, the layer's output: the handler reads its options from
# `section`, its inputs through `importer.previous()` / `importer.layer(i)` and its floats through `importer.take`.
IMPORTERS = OpTable("Darknet importer")
imports = IMPORTERS.register

SHORT_NAMES = {"convolutional": "conv", "connected": "fc"}  # value-name prefix, else the section name


def import_darknet(path: str, *, weights: str | None = None, name: str | None = None,
                   progress: Callable[[str], None] | None = None,
                   warn: Callable[[str], None] | None = None) -> Module:
    """Import a Darknet model (`.cfg` and its `.weights`; by default the `.weights` beside the cfg)."""
    return open_importer(path, weights, name, progress, warn).run()


def opencv_names(path: str, weights: str | None = None) -> tuple[dict[str, str], list[str]]:
    """What a fresh import of a cfg says about OpenCV's net of it: ({OpenCV layer name: IR value name}, the
    OpenCV layers computing the IR's outputs, the maps entering the heads), for running it beside the IR."""
    importer = open_importer(path, weights)
    importer.run()
    return importer.source_names, importer.output_layers


def open_importer(path: str, weights: str | None = None, name: str | None = None,
                  progress: Callable[[str], None] | None = None,
                  warn: Callable[[str], None] | None = None) -> DarknetImporter:
    """The importer of a cfg and its weights, ready to `run`."""
    path = os.fspath(path)
    sections = read_cfg(path)
    reader = WeightsReader(os.fspath(weights) if weights is not None else default_weights(path))
    if name is None:
        name = os.path.splitext(os.path.basename(path))[0]
    return DarknetImporter(sections, reader, sanitize_name(name).replace(".", "_"), progress, warn)


class DarknetImporter(Frontend):
    """Builds the IR function of one cfg; handlers emit ops, read weights and name values through it."""

    noun = "sections"

    def __init__(self, sections: list[Section], reader: WeightsReader, name: str,
                 progress: Callable[[str], None] | None = None, warn: Callable[[str], None] | None = None):
        super().__init__(name, progress, warn)
        self.net, self.layers = sections[0], sections[1:]
        self.reader = reader
        self.store = WeightStore()
        self.outputs: list[object] = []  # each layer's output value (POISON when it failed)
        self.heads: list[object] = []  # the feature maps the [yolo]/[region] heads read
        self.source_names: dict[str, str] = {}
        self.output_layers: list[str] = []  # OpenCV's layer computing each output (set by `run`)
        self.section: Section | None = None
        self.index = -1

    # -- what handlers use

    @property
    def prefix(self) -> str:
        """The base name of the current layer's values and params: `conv_3`, `route_9`."""
        return f"{SHORT_NAMES.get(self.section.kind, self.section.kind)}_{self.index}"

    def emit(self, kind: str, operands: Sequence[Value], attrs: dict | None = None, suffix: str = "",
             opencv: str | None = None) -> Value:
        """nn.KIND for the current layer, named `PREFIX` or `PREFIX_SUFFIX`, located at its section; `opencv`
        names OpenCV's layer that computes the same tensor (recorded in `source_names`)."""
        base = self.prefix + (f"_{suffix}" if suffix else "")
        op = self.emit_op(kind, list(operands), attrs, names=base, loc=FileLoc(self.section.path, self.section.line, 1))
        if opencv is not None:
            self.record(opencv, op.result)
        return op.result

    def record(self, opencv: str, value: Value) -> None:
        """OpenCV's layer `opencv` computes `value`."""
        self.source_names[opencv] = value.name

    def opencv_name(self, kind: str, offset: int = 0) -> str:
        """OpenCV's name of a layer it makes for the current section: `conv_3`, `leaky_4` (offset 1)."""
        return f"{kind}_{self.index + offset}"

    def take(self, count: int) -> np.ndarray:
        return self.reader.take(count)

    def param(self, what: str, arr: np.ndarray) -> Value:
        """`arr` as the param `PREFIX.WHAT` (`conv_3.weight`, `conv_3.bn.running_var`)."""
        key = self.store.fresh_key(f"{self.prefix}.{what}")
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        self.store.add(key, arr, "f32")
        op = self.emit_op("param", [], {"key": key}, types=[TensorType(tuple(arr.shape), "f32")],
                          names=sanitize_name(key))
        return op.result

    def layer(self, index: int) -> Value:
        """The output of layer `index` (absolute, or negative: counted back from the current layer)."""
        target = index + self.index if index < 0 else index
        if not 0 <= target < self.index:
            raise IrcError(f"{self.section.where()}: [{self.section.kind}] refers to layer {index}, which is not "
                           f"an earlier layer (this is layer {self.index})")
        value = self.outputs[target]
        if value is POISON:
            raise Poisoned()
        return value

    def previous(self) -> Value:
        """The previous layer's output (the input `data` for layer 0)."""
        if self.index == 0:
            return self.func.args[0]
        return self.layer(-1)

    def add_head(self, value: Value) -> None:
        self.heads.append(value)

    # -- the walk

    def run(self) -> Module:
        channels = self.net.integer("channels", 3)
        shape = (1, channels, self.net.integer("height", 416), self.net.integer("width", 416))
        if min(shape) <= 0:
            raise IrcError(f"{self.net.where()}: [net] input {'x'.join(map(str, shape))} is not a valid size")
        data = Value("data", TensorType(shape, "f32"))
        self.func = Func("forward", [data], [])
        for index, section in enumerate(self.layers):
            if index and index % 50 == 0:
                self.progress(f"importing layer {index}")
            self.outputs.append(self.import_section(index, section))
        self.section = None
        self.finish()
        self.reader.check()
        outs = self.heads or self.outputs[-1:] or [data]
        first: dict[str, str] = {}
        for layer, value_name in self.source_names.items():
            first.setdefault(value_name, layer)
        self.output_layers = [first.get(v.name, v.name) for v in outs]
        return self.make_module(outs, self.store)

    def import_section(self, index: int, section: Section) -> object:
        """One layer: its handler's output, or POISON when it failed (the failure is recorded)."""
        self.section, self.index = section, index
        handler = IMPORTERS.lookup(section.kind)
        try:
            if handler is None:
                raise Unsupported("no irc mapping for this Darknet section")
            y = handler(self, section)
            self._check_activation(section)
            return y
        except Poisoned:
            return POISON
        except Unsupported as e:
            self.fail(f"[{section.kind}]", str(e), f"layer {index} ({section.path}:{section.line})")
            return POISON

    @staticmethod
    def _check_activation(section: Section) -> None:
        """An `activation=` the handler did not apply is refused rather than dropped."""
        if "activation" not in section.used and section.text("activation", "linear") != "linear":
            raise Unsupported(f"activation={section.text('activation')} on this section is not supported")


__all__ = ["IMPORTERS", "DarknetImporter", "import_darknet", "imports", "opencv_names", "open_importer"]
