"""Backends: IR → something a framework runs. One package per target; `TARGETS` names them for irc-emit.

`emit` names `emit_X(module, output, *, progress=None, **options) -> dict`; the dict holds `files` (the
paths written, the one to open first last) and `detail` (one line: what was written). `options` are the
irc-emit options the target takes (`weights`: "f32" or "f16"; `channels_last`: True); irc-emit refuses
the others. Entries are strings so that naming a target imports nothing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    name: str  # irc-emit --target NAME
    emit: str  # "package.module:function"
    output: str  # what -o names: "directory" or "file"
    summary: str  # one line for --help
    options: tuple[str, ...] = ()


TARGETS = {t.name: t for t in [
    Target("pytorch", "irc.backend.pytorch:emit_pytorch", "directory",
           "OUT/model.py (one readable nn.Module) + OUT/model.safetensors (--channels-last)", ("channels_last",)),
    Target("onnx", "irc.backend.onnx:emit_onnx", "file", "one .onnx file (--opset, default 18)", ("opset",)),
    Target("keras", "irc.backend.keras:emit_keras", "directory",
           "OUT/model.py (a Keras 3 functional model, channels-last) + OUT/model.weights.h5 + OUT/model.keras"),
    Target("tflite", "irc.backend.tflite:emit_tflite", "file", "one .tflite flatbuffer, channels-last (--weights)",
           ("weights",)),
    Target("caffe", "irc.backend.caffe:emit_caffe", "directory", "OUT/deploy.prototxt + OUT/model.caffemodel"),
    Target("ncnn", "irc.backend.ncnn:emit_ncnn", "directory",
           "OUT/model.ncnn.param + OUT/model.ncnn.bin + OUT/model_ncnn.py (--weights)", ("weights",)),
    Target("coreml", "irc.backend.coreml:emit_coreml", "directory",
           "an .mlpackage (ML program; --weights f16 for fp16); predictions need macOS", ("weights",)),
    Target("mxnet", "irc.backend.mxnet:emit_mxnet", "directory", "OUT/model-symbol.json + OUT/model-0000.params"),
]}
