"""ONNX in onnxruntime (CPU): the reference side of `irc-check m.onnx --ir m.ir`, the target of `--onnx`, and
a bisection runtime with every intermediate value made a graph output."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..ir import IrcError

if TYPE_CHECKING:
    from collections.abc import Iterator

    import torch

    from ..ir import Module

DTYPES = {"tensor(float)": "f32", "tensor(double)": "f64", "tensor(float16)": "f16", "tensor(int64)": "i64",
          "tensor(int32)": "i32", "tensor(bool)": "i1", "tensor(uint8)": "u8", "tensor(int8)": "i8"}


def _session(model_bytes: bytes) -> object:
    try:
        import onnxruntime as ort
    except ImportError:
        raise IrcError("running ONNX needs onnxruntime (pip install 'irc[onnx]')") from None
    return ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])


class OnnxRuntime:
    """An .onnx file in onnxruntime. `names` maps ONNX value names to IR names (see `source_names`); None for
    a file irc emitted, whose ONNX names are the IR's (helper values the emitter added have no IR counterpart
    and are ignored). `module` and `weights` are not needed."""

    def __init__(self, path: str, module: Module | None = None, names: dict[str, str] | None = None,
                 weights: str | None = None):
        from ..frontend.onnx import load_onnx
        from ..ir import TensorType

        self.path, self.names = path, names
        self.model = load_onnx(path)  # a readable error for a missing or broken file
        self.session = _session(self.model.SerializeToString())
        ins = self.session.get_inputs()
        self.input_types = [TensorType(tuple(d if isinstance(d, int) else None for d in i.shape),
                                       DTYPES.get(i.type, "f32")) for i in ins]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self._bisect_session = None

    def __call__(self, *inputs: torch.Tensor) -> list[torch.Tensor]:
        return [x for _, x in self._run(self.session, inputs)]

    def _run(self, session: object, inputs) -> list:
        import numpy as np
        import torch

        feed = {i.name: x.numpy() for i, x in zip(session.get_inputs(), inputs)}
        outs = session.run(None, feed)
        return [(info.name, torch.from_numpy(np.asarray(arr))) for info, arr in zip(session.get_outputs(), outs)]

    def run_named(self, inputs: list[torch.Tensor],
                  want: set[str] | None = None) -> Iterator[tuple[str, torch.Tensor]]:
        import onnx

        if self._bisect_session is None:
            model = onnx.ModelProto()
            model.CopyFrom(self.model)
            shown = {o.name for o in model.graph.output}
            extra = [o for n in model.graph.node for o in n.output if o and o not in shown]
            if self.names is not None:
                extra = [o for o in extra if o in self.names]
            model.graph.output.extend(onnx.ValueInfoProto(name=o) for o in dict.fromkeys(extra))
            self._bisect_session = _session(model.SerializeToString())
        for onnx_name, tensor in self._run(self._bisect_session, inputs):
            name = onnx_name if self.names is None else self.names.get(onnx_name)
            if name is not None and (want is None or name in want):
                yield name, tensor

    @staticmethod
    def source_names(path: str, weights: str | None = None) -> dict[str, str]:
        """{ONNX value name: IR value name} of a fresh import of an ONNX file (the importer's `onnx_names`)."""
        from ..frontend.onnx import OnnxImporter, load_onnx, sanitize

        importer = OnnxImporter(load_onnx(path), sanitize(os.path.basename(path)).replace(".", "_"))
        module = importer.run()
        alive = {id(v): v.name for v in module.main.values()}
        return {onnx_name: alive[i] for i, onnx_name in importer.onnx_names.items() if i in alive}
