"""TFLite as an irc runtime: a .tflite file run by LiteRT (`ai_edge_litert.interpreter.Interpreter`).

`TfliteRuntime(path, module=None, names=None, weights=None)`: `__call__` runs the file as users run it (the
default op resolver, XNNPACK included); `run_named` runs it on the builtin kernels alone with
`experimental_preserve_all_tensors=True` (a delegate computes its partition's intermediates out of sight)
and reads every operator's outputs with `get_tensor`, in execution order. With `names` ({tensor name: IR
value name}) tensor names are translated; without it they are the IR names (irc-emit --target tflite names
each tensor after the IR value it holds). A dynamic input dimension (-1 in the file's shape signature) is
resized to the input given. Tensors come back channel-last, as TFLite computes them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..ir import IrcError, TensorType
from ..ir.dtypes import NP_TO_IR

if TYPE_CHECKING:
    import torch

    from ..ir import Module


def _interpreter(path: str, preserve: bool) -> object:
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        raise IrcError("running TFLite models needs ai-edge-litert (pip install 'irc[tflite]')") from None
    kwargs = {}
    if preserve:
        kwargs = {"experimental_preserve_all_tensors": True,
                  "experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    try:
        interp = Interpreter(model_path=path, **kwargs)
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise IrcError(f"LiteRT cannot load {path}: {str(e).strip().splitlines()[0]}") from None
    return interp


class TfliteRuntime:
    """A .tflite file in LiteRT, with its inputs' types and outputs' names."""

    channels_last = True  # every 4-D tensor is NHWC (for a caller that cannot tell from the shape: C == H == W)

    def __init__(self, path: str, module: Module | None = None, names: dict[str, str] | None = None,
                 weights: str | None = None):
        self.path = path
        self.module = module
        self.names = names
        self.interp = _interpreter(path, preserve=False)
        self._debug = None  # the interpreter run_named uses, made on first use
        self.inputs = self.interp.get_input_details()
        self.input_types = [_type(d) for d in self.inputs]
        self.output_names = [d["name"] for d in self.interp.get_output_details()]
        # float16 weights (dequantised at run time): checked with the f16 rule
        self.precision = "f16" if any(d["dtype"] == np.float16 for d in self.interp.get_tensor_details()) else "f32"

    def _run(self, interp: object, inputs: Sequence) -> None:
        details = interp.get_input_details()
        if len(inputs) != len(details):
            raise IrcError(f"the model takes {len(details)} inputs, got {len(inputs)}")
        arrays = [np.ascontiguousarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=d["dtype"])
                  for x, d in zip(inputs, details, strict=True)]
        if any(tuple(a.shape) != tuple(d["shape"]) for a, d in zip(arrays, details, strict=True)):
            for a, d in zip(arrays, details, strict=True):
                interp.resize_tensor_input(d["index"], list(a.shape), strict=True)
            interp.allocate_tensors()
        for a, d in zip(arrays, details, strict=True):
            interp.set_tensor(d["index"], a)
        interp.invoke()

    def __call__(self, *inputs: torch.Tensor) -> list[torch.Tensor]:
        import torch

        self._run(self.interp, inputs)
        return [torch.from_numpy(np.array(self.interp.get_tensor(d["index"])))
                for d in self.interp.get_output_details()]

    def run_named(self, inputs: Sequence[torch.Tensor],
                  want: set[str] | None = None) -> Iterator[tuple[str, torch.Tensor]]:
        """(IR value name, tensor) for every operator output with an IR counterpart, in execution order."""
        import warnings

        import torch

        if self._debug is None:
            with warnings.catch_warnings():  # LiteRT warns that preserving every tensor is for debugging: it is
                warnings.simplefilter("ignore")
                self._debug = _interpreter(self.path, preserve=True)
        interp = self._debug
        self._run(interp, inputs)
        tensor_names = {d["index"]: d["name"] for d in interp.get_tensor_details()}
        if self.module is not None and self.names is None:  # only the IR's values, not the helper tensors
            known = {v.name for v in self.module.main.values()}
            want = known if want is None else want & known
        for index in _execution_order(interp):
            name = tensor_names.get(index)
            ir_name = name if self.names is None else self.names.get(name)
            if ir_name is None or want is not None and ir_name not in want:
                continue
            try:
                arr = interp.get_tensor(index)
            except ValueError:  # a tensor LiteRT did not keep
                continue
            yield ir_name, torch.from_numpy(np.array(arr))


def _execution_order(interp: object) -> list[int]:
    """The tensors the operators write, in the order they run (inputs first)."""
    order = [d["index"] for d in interp.get_input_details()]
    for op in interp._get_ops_details():
        order.extend(int(i) for i in op["outputs"] if i >= 0)
    return list(dict.fromkeys(order))


def _type(detail: dict) -> TensorType:
    sig = detail.get("shape_signature")
    dims = list(sig) if sig is not None and len(sig) else list(detail["shape"])
    return TensorType(tuple(None if d < 0 else int(d) for d in dims), NP_TO_IR[np.dtype(detail["dtype"]).str])


__all__ = ["TfliteRuntime"]
