"""ncnn as an irc runtime: a directory irc-emit --target ncnn wrote, run with the `ncnn` package.

`NcnnRuntime(path)`: `path` is the output directory (model.ncnn.param, model.ncnn.bin, model_ncnn.py, whose
INPUTS / OUTPUTS name the blobs). ncnn blobs are batchless: each input's batch dimension (1) is dropped on the
way in and put back on the way out, so tensors come back with the IR value's shape (when `module` is given,
reshaped to it exactly). ncnn runs in float32 here (fp16 storage and arithmetic off) with light mode off, so
one extractor keeps every blob it computed and `run_named` can read any of them by name.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..ir import IrcError, Module, TensorType

if TYPE_CHECKING:
    import torch

PARAM_FILE, BIN_FILE, SCRIPT_FILE = "model.ncnn.param", "model.ncnn.bin", "model_ncnn.py"


def _script_names(path: str) -> tuple[list, list, dict]:
    """INPUTS, OUTPUTS and SHAPES of model_ncnn.py, read as literals (the file is not run)."""
    found = {}
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("INPUTS", "OUTPUTS", "SHAPES"):
                found[node.targets[0].id] = ast.literal_eval(node.value)
    if set(found) != {"INPUTS", "OUTPUTS", "SHAPES"}:
        raise IrcError(f"{path} names no INPUTS, OUTPUTS and SHAPES (not written by irc-emit --target ncnn?)")
    return found["INPUTS"], found["OUTPUTS"], found["SHAPES"]


def param_blobs(path: str) -> list[str]:
    """Every blob a .param file's layers produce, in file order."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")[2:]
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 4:
            nb, nt = int(parts[2]), int(parts[3])
            out.extend(parts[4 + nb:4 + nb + nt])
    return out


def _has_fp16_weights(path: str) -> bool:
    """Whether a .bin holds float16 weights: a weight ncnn reads with a storage tag starts, 4-byte aligned, with
    0x01306B47 (as a float32 that value is 3.2e-38, which random or trained weights do not hold)."""
    import numpy as np

    from ..backend.ncnn.writer import FP16_TAG

    with open(path, "rb") as f:
        data = f.read()
    words = np.frombuffer(data[: len(data) // 4 * 4], dtype="<u4")
    return bool((words == FP16_TAG).any())


class NcnnRuntime:
    """An irc-emitted ncnn model, run by the `ncnn` package."""

    def __init__(self, path: str, module: Module | None = None, names: dict[str, str] | None = None,
                 weights: str | None = None):
        try:
            import ncnn
        except ImportError:
            raise IrcError("running ncnn models needs the ncnn package (pip install ncnn)") from None
        self.path = path
        param, model = os.path.join(path, PARAM_FILE), os.path.join(path, BIN_FILE)
        for p in (param, model, os.path.join(path, SCRIPT_FILE)):
            if not os.path.isfile(p):
                raise IrcError(f"{p}: no such file (give the directory irc-emit --target ncnn wrote)")
        inputs, self.output_names, shapes = _script_names(os.path.join(path, SCRIPT_FILE))
        self.input_names = [n for n, _ in inputs]
        self.input_types = [TensorType(shape=(1, *shape), dtype="f32") for _, shape in inputs]
        self.module = module
        self.names = names
        self.blob_names = param_blobs(param)
        self.precision = "f16" if _has_fp16_weights(model) else "f32"  # --weights f16: judged by the f16 rule
        self.net = ncnn.Net()
        opt = self.net.opt
        opt.use_fp16_storage = opt.use_fp16_arithmetic = opt.use_fp16_packed = False
        opt.use_bf16_storage = False
        opt.num_threads = 1
        if self.net.load_param(param) != 0 or self.net.load_model(model) != 0:
            raise IrcError(f"ncnn could not load {param} / {model}")
        self._shapes = {name: tuple(s) for name, s in shapes.items()}
        if module is not None:
            self._shapes.update({v.name: tuple(v.type.shape) for v in module.main.values() if v.type is not None})

    def _extractor(self, inputs: list[torch.Tensor]):
        import ncnn
        import numpy as np

        if len(inputs) != len(self.input_names):
            raise IrcError(f"the ncnn model takes {len(self.input_names)} input(s), got {len(inputs)}")
        ex = self.net.create_extractor()
        ex.set_light_mode(False)
        for name, x in zip(self.input_names, inputs, strict=True):
            arr = x.detach().cpu().numpy()
            if arr.shape[0] != 1:
                raise IrcError(f"ncnn is batchless: input {name} has batch {arr.shape[0]}; give batch 1")
            ex.input(name, ncnn.Mat(np.ascontiguousarray(arr[0], dtype=np.float32)))
        return ex

    def _tensor(self, ex, blob: str, ir_name: str | None) -> torch.Tensor:
        import numpy as np
        import torch

        ret, mat = ex.extract(blob)
        if ret != 0:
            raise IrcError(f"ncnn could not compute blob {blob} (error {ret})")
        arr = np.array(mat, dtype=np.float32)
        shape = self._shapes.get(ir_name or blob)
        if shape is not None and None not in shape and int(np.prod(shape)) == arr.size:
            return torch.from_numpy(arr.reshape(shape).copy())
        return torch.from_numpy(arr.copy()).unsqueeze(0)

    def __call__(self, *inputs: torch.Tensor) -> list[torch.Tensor]:
        ex = self._extractor(list(inputs))
        return [self._tensor(ex, name, name) for name in self.output_names]

    def run_named(self, inputs: list[torch.Tensor],
                  want: set[str] | None = None) -> Iterator[tuple[str, torch.Tensor]]:
        """Every blob of the model (each once, in layer order) under its IR name."""
        ex = self._extractor(list(inputs))
        for name in self.output_names:
            ex.extract(name)  # one forward pass computes (and, light mode off, keeps) every blob
        for blob in self.blob_names:
            ir_name = blob if self.names is None else self.names.get(blob)
            if ir_name is None or (want is not None and ir_name not in want):
                continue
            if self.module is not None and ir_name not in self._shapes:
                continue
            yield ir_name, self._tensor(ex, blob, ir_name)
