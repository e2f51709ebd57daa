"""Test utilities shared by the test files (import as `from helpers import ...`)."""

from __future__ import annotations

import os
import shutil

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
IR_DIR = os.path.join(HERE, "ir")


def make_weights(module, path: str, seed: int = 0) -> None:
    """Write a safetensors file holding a random tensor for every nn.param of `module` (by its declared type)."""
    from safetensors.numpy import save_file

    from irc.ir.structure import flatten

    rng = np.random.default_rng(seed)
    tensors = {}
    for op in flatten(module).ops():  # a block's params under each of its calls' scopes
        if op.name == "nn.param" and op.result.type is not None:
            t = op.result.type
            if t.dtype.startswith("f"):
                arr = rng.standard_normal(t.shape).astype({"f16": np.float16, "f32": np.float32, "f64": np.float64}[t.dtype])
            else:
                arr = rng.integers(0, 5, t.shape).astype({"i64": np.int64, "i32": np.int32, "u8": np.uint8, "i8": np.int8}.get(t.dtype, np.int64))
            if "running_var" in op.attrs["key"] or op.attrs["key"].endswith(".var"):
                arr = np.abs(arr) + 0.5
            tensors[op.attrs["key"]] = arr
    save_file(tensors, path)


def golden_copy(name: str, tmp_path, seed: int = 0) -> str:
    """Copy tests/ir/NAME into tmp_path with a random weight file made for it; return the .ir path."""
    import irc

    src = os.path.join(IR_DIR, name)
    dst = os.path.join(str(tmp_path), name)
    shutil.copy(src, dst)
    text = open(src).read()
    module = irc.parse(text, dst, weights=_NoWeights())
    wname = module.attrs.get("weights")
    if wname:
        make_weights(module, os.path.join(str(tmp_path), wname), seed)
    return dst


class _NoWeights:
    """A stand-in store while parsing a golden file whose weights are not made yet (types must be written)."""

    missing_file = True
    path = None

    def has(self, key):
        return False


def randomize_(model, seed: int = 0):
    """Randomise every parameter and BatchNorm running statistic in place (DESIGN.md: fresh init hides bugs)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (1.0 / max(1, p[0].numel()) ** 0.5 if p.dim() > 1 else 0.5)
                    + (1.0 if name.endswith("weight") and p.dim() == 1 else 0.0))
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g) * 0.5)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) * 1.5 + 0.25)
    return model.eval()
