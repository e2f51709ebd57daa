"""torch → .tflite: conversion time and file size, irc against the routes users take today.

    python bench/tflite.py [--models resnet50,mobilenet_v2,mobilenet_v3_large,efficientnet_b0] [--keep DIR]

| route      | steps                                                                                   |
|------------|-----------------------------------------------------------------------------------------|
| irc        | import_model -> run_passes(fuse-bn, ...) -> emit_tflite (nchw-to-nhwc inside), f32 and f16 |
| onnx2tf    | torch.onnx.export -> onnx2tf.convert (needs TensorFlow)                                  |
| litert     | litert_torch.convert (or ai_edge_torch.convert) -> export (needs TensorFlow)             |

Each conversion runs in this process after a warm-up import of torch (model building is not timed). A route
whose package is not installed is reported as such. onnx2tf runs as its own command in the python that
$ONNX2TF_PYTHON names (`python -m venv /tmp/o2tf && /tmp/o2tf/bin/pip install tensorflow-cpu onnx2tf onnx
onnxruntime onnx_graphsurgeon sng4onnx psutil ai-edge-litert tf-keras onnxsim`: TensorFlow does not install
beside the test environment's torch), its time including that process's start. LiteRT's
median inference time on the irc file (batch 1, default op resolver with XNNPACK) is printed beside it.
Nothing is asserted; the table goes into README.md's Performance section.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

SIZES = {"resnet50": 224, "mobilenet_v2": 224, "mobilenet_v3_large": 224, "efficientnet_b0": 224, "vgg16": 224,
         "inception_v3": 299}


def build(name: str) -> object:
    import torchvision

    kwargs = {"aux_logits": False, "init_weights": False} if name == "inception_v3" else {}
    return getattr(torchvision.models, name)(weights=None, **kwargs).eval()


def irc_route(model: object, size: int, out: str, weights: str) -> float:
    from irc.backend.tflite import emit_tflite
    from irc.frontend.torch import import_model
    from irc.passes.manager import run_passes

    start = time.perf_counter()
    module = import_model(model, [((3, size, size), "f32")], batch=1)
    run_passes(module, "canonicalize,fuse-bn,fold-constants,cse,dce")
    emit_tflite(module, out, weights=weights)
    return time.perf_counter() - start


def onnx2tf_route(model: object, size: int, folder: str) -> tuple[float, str]:
    """torch.onnx.export here, then the onnx2tf command (TensorFlow's own process: the python named by
    $ONNX2TF_PYTHON, a venv with tensorflow-cpu and onnx2tf, or this one if it has onnx2tf)."""
    import subprocess

    import numpy as np
    import torch

    python = os.environ.get("ONNX2TF_PYTHON", sys.executable)
    # onnx2tf downloads sample images at start unless this file is in its working directory (there is no
    # network here); they only matter for int8 calibration, so random ones do
    sample = os.path.join(folder, "calibration_image_sample_data_20x128x128x3_float32.npy")
    np.save(sample, np.random.default_rng(0).random((20, 128, 128, 3), dtype=np.float32))
    start = time.perf_counter()
    onnx_path = os.path.join(folder, "m.onnx")
    torch.onnx.export(model, (torch.randn(1, 3, size, size),), onnx_path)
    proc = subprocess.run([python, "-m", "onnx2tf", "-i", onnx_path, "-o", os.path.join(folder, "onnx2tf"), "-n"],
                          capture_output=True, text=True, cwd=folder)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise ImportError(last) if "No module named" in last else RuntimeError(last)
    out = os.path.join(folder, "onnx2tf", "m_float32.tflite")
    return time.perf_counter() - start, out


def litert_route(model: object, size: int, folder: str) -> tuple[float, str]:
    import torch

    try:
        import litert_torch as converter
    except ImportError:
        import ai_edge_torch as converter
    start = time.perf_counter()
    out = os.path.join(folder, "litert.tflite")
    converter.convert(model, (torch.randn(1, 3, size, size),)).export(out)
    return time.perf_counter() - start, out


def inference_ms(path: str, size: int, repeat: int = 10) -> float:
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=path)
    interp.allocate_tensors()
    detail = interp.get_input_details()[0]
    interp.set_tensor(detail["index"], np.random.default_rng(0).standard_normal(detail["shape"]).astype(np.float32))
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        interp.invoke()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def peer(route, model: object, size: int, folder: str) -> str:
    try:
        seconds, out = route(model, size, folder)
    except ImportError as e:
        return f"not installed ({e.name})"
    except Exception as e:  # noqa: BLE001  (a peer failing is a result, reported)
        return f"failed: {type(e).__name__}: {str(e).splitlines()[0][:60] if str(e) else ''}"
    return f"{seconds:.1f} s, {os.path.getsize(out) / 1e6:.1f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet50,mobilenet_v2,mobilenet_v3_large,efficientnet_b0")
    parser.add_argument("--keep", default=None, help="keep the files written in this folder")
    args = parser.parse_args()
    import torch  # noqa: F401  (imported once, before any timing)

    print("| model | irc f32 | irc f16 | LiteRT ms (irc f32) | onnx2tf | litert-torch |")
    print("|---|---|---|---|---|---|")
    for name in args.models.split(","):
        size = SIZES[name]
        model = build(name)
        with tempfile.TemporaryDirectory(prefix="irc-bench-tflite.") as folder:
            folder = args.keep or folder
            os.makedirs(folder, exist_ok=True)
            cells = []
            for weights in ("f32", "f16"):
                out = os.path.join(folder, f"{name}_{weights}.tflite")
                seconds = irc_route(model, size, out, weights)
                cells.append(f"{seconds:.1f} s, {os.path.getsize(out) / 1e6:.1f} MB")
            ms = inference_ms(os.path.join(folder, f"{name}_f32.tflite"), size)
            cells += [f"{ms:.1f}", peer(onnx2tf_route, model, size, folder), peer(litert_route, model, size, folder)]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
