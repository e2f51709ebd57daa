"""Framework runtimes for irc-check and --bisect: a converted (or source) file run in its own framework.

`RUNTIMES[kind]` names a class `XRuntime(path, module=None, names=None, weights=None)` with

- `input_types`: the file's inputs as TensorTypes, in the file's own layout;
- `output_names`: its outputs' names;
- `__call__(*inputs) -> list[torch.Tensor]`: one run;
- `channels_last` (optional, default False): True for a runtime that computes channel-last (TFLite, Keras):
  where the IR or the source it is compared with is channel-first, its values are transposed back even where
  their shape cannot tell;
- `precision` (optional, default "f32"): "f16" for float16 weights or compute (checked with the f16 rule);
- `run_named(inputs, want=None)`: the bisection interface of `irc.bisect` (IR value name, tensor) pairs,
  names mapped through `names` {framework name: IR name} when given, else the framework's names are the IR's
  (a file irc emitted). Tensors come in the framework's layout; `irc.check` and `irc.bisect` transpose a
  channel-last tensor to the IR value's channel-first shape where that is the only difference.

Entries are strings so that naming a runtime imports nothing; `irc-check --KIND FILE` uses them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..ir.layout import reorder

if TYPE_CHECKING:
    import torch

    from ..ir import Module, TensorType

RUNTIMES = {
    "onnx": "irc.runtimes.onnx:OnnxRuntime",
    "keras": "irc.runtimes.keras:KerasRuntime",
    "tflite": "irc.runtimes.tflite:TfliteRuntime",
    "caffe": "irc.runtimes.opencv:CaffeRuntime",
    "darknet": "irc.runtimes.opencv:DarknetRuntime",
    "ncnn": "irc.runtimes.ncnn:NcnnRuntime",
    # no CoreML runtime on Linux: the package is read back into IR and run by irc's executor (a read-back check)
    "coreml": "irc.runtimes.coreml:CoremlReadBack",
    "mxnet": "irc.runtimes.mxnet:MxnetRuntime",
}


def runtime_class(kind: str) -> type:
    """The runtime class of `kind` ("tflite", ...); an IrcError when its framework is not installed."""
    from ..frontend import resolve
    from ..ir import IrcError

    if kind not in RUNTIMES:
        raise IrcError(f"no runtime for '{kind}' (known: {', '.join(RUNTIMES)})")
    try:
        return resolve(RUNTIMES[kind])
    except ImportError as e:
        raise IrcError(f"running a {kind} model needs a package that is not installed: {e} "
                       f"(pip install 'irc[{kind}]')") from None


def open_runtime(kind: str, path: str, module: Module | None = None, names: dict[str, str] | None = None,
                 weights: str | None = None) -> object:
    """An instance of the runtime of `kind` for the file (or directory) at `path`."""
    from ..ir.structure import flatten

    return runtime_class(kind)(path, module=flatten(module) if module is not None else None, names=names,
                               weights=weights)


def source_names(kind: str, path: str, weights: str | None = None) -> dict[str, str] | None:
    """{framework name: IR value name} of a fresh import of a source file, for bisecting against it; None when
    the runtime's names are the IR's (its class has no `source_names`)."""
    find = getattr(runtime_class(kind), "source_names", None)
    return None if find is None else find(path, weights)


def fit_inputs(inputs: list[torch.Tensor], types: list[TensorType]) -> list[torch.Tensor]:
    """`inputs` made to fit a runtime's `types`: a channel-first tensor is transposed to channel-last where
    that is what the runtime takes (a model emitted channels-last from a channel-first IR)."""
    out = []
    for x, t in zip(inputs, types):
        want = tuple(t.shape)
        if x.dim() >= 3 and not _fits(tuple(x.shape), want) and \
                _fits(tuple(x.permute(reorder("nchw", "nhwc", x.dim())).shape), want):
            x = x.permute(reorder("nchw", "nhwc", x.dim())).contiguous()
        out.append(x)
    return out


def match_layout(ref: torch.Tensor | tuple, out: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
    """`out` transposed channel-last → channel-first when that gives `ref`'s shape (`ref` a tensor or a shape)
    and either the shapes differ or the runtime computes channel-last (`channels_last`: a class attribute of
    runtimes that run a model made channel-last, so that a [1, 8, 8, 8] value, whose shape cannot tell, is
    transposed too)."""
    shape = tuple(ref.shape) if hasattr(ref, "shape") else tuple(ref)
    if out.dim() >= 3 and (channels_last or tuple(out.shape) != shape):
        back = out.permute(reorder("nhwc", "nchw", out.dim()))
        if tuple(back.shape) == shape:
            return back
    return out


def _fits(shape: tuple, want: tuple) -> bool:
    return len(shape) == len(want) and all(w is None or w < 0 or s == w for s, w in zip(shape, want))
