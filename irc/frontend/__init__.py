"""Frontends: a source model → IR. One package per framework; `FORMATS` names them for irc-import.

Each file format is recognised by its content (`sniff`, cheap and never raising), in the order listed;
a file no sniffer claims is read as a PyTorch model (`irc.frontend.torch.load.load_source`). `load`
names `import_X(path, *, name=None, progress=None, warn=None[, weights=None]) -> Module`; formats whose
weights live in a second file (`needs_weights`) take it as `weights=` (irc-import's `--weights FILE`).
Entries are strings so that naming a format imports nothing.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    name: str  # as users say it: "ONNX", "Keras"
    sniff: str  # "package.module:function", (path) -> bool
    load: str  # "package.module:function", the importer entry point
    needs_weights: bool = False  # the weights are a second file (--weights)
    weights_help: str = ""


FORMATS = [
    Format("ONNX", "irc.frontend.onnx:is_onnx_file", "irc.frontend.onnx:import_onnx"),
    Format("Keras", "irc.frontend.keras.source:is_keras_file", "irc.frontend.keras:import_keras"),
    Format("TFLite", "irc.frontend.tflite.source:is_tflite_file", "irc.frontend.tflite:import_tflite"),
    Format("Caffe", "irc.frontend.caffe.source:is_caffe_file", "irc.frontend.caffe:import_caffe",
           needs_weights=True, weights_help="the .caffemodel"),
    Format("Darknet", "irc.frontend.darknet.source:is_darknet_file", "irc.frontend.darknet:import_darknet",
           needs_weights=True, weights_help="the .weights file"),
    Format("CoreML", "irc.frontend.coreml.source:is_coreml_package", "irc.frontend.coreml:import_coreml"),
    Format("MXNet", "irc.frontend.mxnet.source:is_mxnet_symbol", "irc.frontend.mxnet:import_mxnet",
           needs_weights=True, weights_help="the model-0000.params file"),
]


def resolve(entry: str) -> object:
    """The object an entry string 'package.module:name' names."""
    module, _, attr = entry.partition(":")
    return getattr(importlib.import_module(module), attr)


def detect(path: str) -> Format | None:
    """The format of the file at `path` by its content; None for anything else (a PyTorch model). A frontend
    that is not installed in this build claims nothing."""
    for fmt in FORMATS:
        try:
            sniff = resolve(fmt.sniff)
        except (ImportError, AttributeError):
            continue
        if sniff(path):
            return fmt
    return None
