"""Framework runtimes for irc-check and --bisect: a converted (or source) file run in its own framework.

`RUNTIMES[kind]` names a class `XRuntime(path, module=None, names=None, weights=None)` with

- `input_types`: the file's inputs as TensorTypes, in the file's own layout;
- `output_names`: its outputs' names;
- `__call__(*inputs) -> list[torch.Tensor]`: one run;
- `run_named(inputs, want=None)`: the bisection interface of `irc.bisect` (IR value name, tensor) pairs,
  names mapped through `names` {framework name: IR name} when given, else the framework's names are the IR's
  (a file irc emitted). Tensors come in the framework's layout; `irc.check` and `irc.bisect` transpose a
  channel-last tensor to the IR value's channel-first shape where that is the only difference.

Entries are strings so that naming a runtime imports nothing; `irc-check --KIND FILE` uses them.
"""

from __future__ import annotations

RUNTIMES = {
    "onnx": "irc.runtimes.onnx:OnnxRuntime",
    "keras": "irc.runtimes.keras:KerasRuntime",
    "tflite": "irc.runtimes.tflite:TfliteRuntime",
    "caffe": "irc.runtimes.opencv:CaffeRuntime",
    "darknet": "irc.runtimes.opencv:DarknetRuntime",
    "ncnn": "irc.runtimes.ncnn:NcnnRuntime",
}
