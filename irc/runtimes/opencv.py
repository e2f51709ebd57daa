"""Caffe and Darknet models run in OpenCV's dnn module (opencv-python-headless 4.x; 5.0 dropped Caffe).

`CaffeRuntime(path, module=None, names=None, weights=None)`: `path` is a prototxt and `weights` its
caffemodel, or `path` is a directory irc-emit wrote (deploy.prototxt + model.caffemodel).
`DarknetRuntime(path, module=None, names=None, weights=None)`: `path` is a .cfg and `weights` its .weights.

OpenCV returns any layer's output by the layer's name (`net.forward(names)`), which gives `run_named`:
with `names` ({layer name: IR value name}, e.g. `CaffeImporter.source_names`) the names are translated,
without it the layer names are the IR names (a net irc emitted names each layer after the value it
computes). Tensors come back as OpenCV computes them: NCHW float32.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from ..ir import IrcError, TensorType

if TYPE_CHECKING:
    import torch

    from ..ir import Module


def _cv2() -> object:
    try:
        import cv2
    except ImportError:
        raise IrcError("running Caffe or Darknet models needs OpenCV 4.x (pip install 'irc[caffe]')") from None
    return cv2


class OpenCvRuntime:
    """A cv2.dnn.Net with its inputs' names and types; subclasses say how to read the files."""

    def __init__(self, net: object, input_names: list[str], input_types: list[TensorType],
                 names: dict[str, str] | None = None):
        self.net = net
        self.input_names = input_names
        self.input_types = input_types
        self.names = names
        self.net.setPreferableBackend(_cv2().dnn.DNN_BACKEND_OPENCV)
        self.output_names = list(net.getUnconnectedOutLayersNames())

    def _feed(self, inputs: tuple | list) -> None:
        if len(inputs) != len(self.input_names):
            raise IrcError(f"the model takes {len(self.input_names)} inputs, got {len(inputs)}")
        for name, x in zip(self.input_names, inputs, strict=True):
            arr = np.ascontiguousarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float32)
            self.net.setInput(arr, name)

    def forward(self, inputs: tuple | list, layer_names: list[str]) -> list[np.ndarray]:
        self._feed(inputs)
        return list(self.net.forward(layer_names))

    def __call__(self, *inputs: torch.Tensor) -> list[torch.Tensor]:
        import torch

        return [torch.from_numpy(np.array(a)) for a in self.forward(inputs, self.output_names)]

    def run_named(self, inputs: list[torch.Tensor],
                  want: set[str] | None = None) -> Iterator[tuple[str, torch.Tensor]]:
        """(IR value name, tensor) for every layer output with an IR counterpart, in the net's order."""
        import torch

        pairs = []
        for layer in self.net.getLayerNames():
            name = layer if self.names is None else self.names.get(layer)
            if name is not None and (want is None or name in want):
                pairs.append((layer, name))
        if not pairs:
            return
        outs = self.forward(inputs, [layer for layer, _ in pairs])
        for (_, name), arr in zip(pairs, outs, strict=True):
            yield name, torch.from_numpy(np.array(arr))


class CaffeRuntime(OpenCvRuntime):
    """A Caffe prototxt + caffemodel (or a directory irc emitted) in cv2.dnn.readNetFromCaffe."""

    def __init__(self, path: str, module: Module | None = None, names: dict[str, str] | None = None,
                 weights: str | None = None):
        from ..formats.caffe import layers, parse_text

        if os.path.isdir(path):
            path, weights = os.path.join(path, "deploy.prototxt"), weights or os.path.join(path, "model.caffemodel")
        cv2 = _cv2()
        try:
            with open(path) as f:
                net_proto = parse_text(f.read(), os.path.basename(path))
            net = cv2.dnn.readNetFromCaffe(path, weights) if weights else cv2.dnn.readNetFromCaffe(path)
        except (OSError, cv2.error) as e:
            raise IrcError(f"OpenCV cannot read {path}: {str(e).strip().splitlines()[-1]}") from None
        input_names, input_types = [], []
        for i, blob in enumerate(net_proto.input):
            dims = (list(net_proto.input_shape[i].dim) if i < len(net_proto.input_shape)
                    else list(net_proto.input_dim[4 * i: 4 * i + 4]))
            input_names.append(blob)
            input_types.append(TensorType(tuple(int(d) for d in dims), "f32"))
        for layer in layers(net_proto):
            if layer.type == "Input":
                shapes = list(layer.proto.input_param.shape)
                for k, top in enumerate(layer.tops):
                    input_names.append(top)
                    input_types.append(TensorType(tuple(int(d) for d in shapes[min(k, len(shapes) - 1)].dim), "f32"))
        super().__init__(net, input_names, input_types, names)

    @staticmethod
    def source_names(path: str, weights: str | None = None) -> dict[str, str]:
        """{Caffe layer name: IR value name} of a fresh import (for bisecting against a Caffe source)."""
        from ..frontend.caffe.importer import CaffeImporter, load_blobs, load_net, resolve_paths

        path, weights = resolve_paths(path, weights)
        importer = CaffeImporter(load_net(path), load_blobs(weights) if weights else None, "source")
        importer.run()
        return importer.source_names


class DarknetRuntime(OpenCvRuntime):
    """A Darknet .cfg + .weights in cv2.dnn.readNetFromDarknet. Its outputs are the maps entering the yolo/region
    heads, as irc imports them (OpenCV's own outputs decode boxes and apply a threshold); the input shape and
    those layers come from a fresh import of the cfg."""

    def __init__(self, path: str, module: Module | None = None, names: dict[str, str] | None = None,
                 weights: str | None = None):
        from ..frontend.darknet.importer import open_importer

        importer = open_importer(path, weights)
        source = importer.run()
        cv2 = _cv2()
        try:
            net = cv2.dnn.readNetFromDarknet(path, weights) if weights else cv2.dnn.readNetFromDarknet(path)
        except (OSError, ValueError, cv2.error) as e:
            raise IrcError(f"OpenCV cannot read {path}: {str(e).strip().splitlines()[-1]}") from None
        super().__init__(net, [""], [source.main.args[0].type], names)
        self.output_names = list(importer.output_layers)

    @staticmethod
    def source_names(path: str, weights: str | None = None) -> dict[str, str]:
        """{OpenCV layer name: IR value name} of a fresh import (for bisecting against a Darknet source)."""
        from ..frontend.darknet.importer import opencv_names

        return opencv_names(path, weights)[0]


__all__ = ["CaffeRuntime", "DarknetRuntime", "OpenCvRuntime"]
