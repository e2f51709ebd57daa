"""The TensorFlow column (issue 14 point 4, and point 5's "in TensorFlow"): Keras files irc emits load and run
in TensorFlow (KERAS_BACKEND=tensorflow, tensorflow-cpu 2.21) and export a SavedModel that TensorFlow alone
runs; both outputs are compared with the torch source under the pass rule.

TensorFlow does not install next to the test environment's torch (its protobuf and ml_dtypes pins), so these
tests run it in a cached environment of its own (`tests/framework_envs.py`; built once, ~1 min, 1.6 GB).
All models run in one TensorFlow process (importing TensorFlow takes seconds)."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # this process writes the files on the torch backend

import numpy as np
import pytest
import torch
from framework_envs import run_script
from helpers import randomize_
from models.zoo import ZOO

from irc.fidelity import compare

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

# the seed models of the issue, quick (narrow, small input) and full size
SEEDS = ["vgg16", "inception_v3", "resnet50", "mobilenet_v1", "tiny_yolo_v2", "tiny_yolo_v3"]


def _case(root, name, model, size, batch=2):
    """Import the torch model, emit Keras into ROOT/NAME and leave channel-last inputs beside it; the torch
    reference (channel-last where the output is a feature map)."""
    from irc.backend.keras import emit_keras
    from irc.frontend.torch import import_model

    module = import_model(model, [((3, size, size), "f32")], batch="dynamic")
    case = os.path.join(root, name)
    emit_keras(module, case)
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        ref = model(x)
    ref = list(ref) if isinstance(ref, (tuple, list)) else [ref]
    ref = [r.permute(0, 2, 3, 1) if r.dim() == 4 else r for r in ref]
    np.savez(os.path.join(case, "inputs.npz"), x0=x.permute(0, 2, 3, 1).contiguous().numpy())
    return case, [r.numpy() for r in ref]


def _run_all(tmp_path, which):
    cases = {}
    for name, (model, size) in which.items():
        randomize_(model, seed=11)
        model.eval()
        cases[name] = _case(str(tmp_path), name, model, size)
    log = run_script("tensorflow", "tf_run_keras.py", str(tmp_path))
    for name, (case, refs) in cases.items():
        outs = np.load(os.path.join(case, "outputs.npz"))
        assert len([k for k in outs.files if k.startswith("keras")]) == len(refs), (name, outs.files)
        for i, ref in enumerate(refs):
            for side in ("keras", "saved"):
                got = outs[f"{side}{i}"]
                verdict = compare(ref, got, "pass")
                assert verdict.ok, f"{name} output {i} in TensorFlow ({side}): {verdict.line(name)}\n{log}"


def test_seed_models_run_in_tensorflow(tmp_path):
    """torch → IR → Keras → TensorFlow (and its SavedModel), the quick seed models."""
    _run_all(tmp_path, {name: (ZOO[name][0](), ZOO[name][1]) for name in SEEDS})


@pytest.mark.slow
def test_full_size_seed_models_run_in_tensorflow(tmp_path):
    # a representative few at full size (the suite's time budget); all six run quick above
    _run_all(tmp_path, {name: (ZOO[name][2](), ZOO[name][3]) for name in ("resnet50", "inception_v3", "tiny_yolo_v3")})


def test_tflite_files_written_by_tensorflow_import(tmp_path):
    """Issue 15: .tflite files TensorFlow's own TFLiteConverter wrote (f32, and f16 weights behind DEQUANTIZE)
    import into IR and, through nhwc-to-nchw, emitted PyTorch, matching LiteRT on the same file (f16: the
    file's own f16 weights, so the pass rule still holds against LiteRT)."""
    import irc
    from irc.check import import_emitted
    from irc.frontend.tflite import import_tflite
    from irc.runtimes.tflite import TfliteRuntime

    log = run_script("tensorflow", "tf_make_tflite.py", str(tmp_path))
    files = sorted(f for f in os.listdir(tmp_path) if f.endswith(".tflite"))
    assert len(files) == 4, (files, log)
    for name in files:
        path = str(tmp_path / name)
        runtime = TfliteRuntime(path)
        shape = [d or 1 for d in runtime.input_types[0].shape]  # a dynamic batch runs at 1
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(3))
        ref = runtime(x)
        module = import_tflite(path)
        irc.run_passes(module, "nhwc-to-nchw,canonicalize,fuse-bn,fold-constants,cse,dce")
        out_dir = str(tmp_path / (name + "_pt"))
        irc.emit_pytorch(module, out_dir)
        with torch.no_grad():
            got = import_emitted(out_dir).load()(x)
        got = list(got) if isinstance(got, (tuple, list)) else [got]
        for r, g in zip(ref, got):
            verdict = compare(r, g, "pass")
            assert verdict.ok, f"{name}: {verdict.line(name)}"
