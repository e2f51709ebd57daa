"""irc against pnnx as PyTorch → ncnn converters, on the torchvision classifiers at full size.

    python bench/ncnn_vs_pnnx.py [--models resnet18,resnet50,...] [--pnnx /tmp/pnnxenv/bin/pnnx] [--runs 5]

pnnx is installed beside the test torch: `python -m venv --system-site-packages /tmp/pnnxenv &&
/tmp/pnnxenv/bin/pip install --no-deps pnnx` (pnnx 20261020 captures with TorchScript, deprecated in torch 2.11).

For each model (weights=None, randomised weights and BatchNorm statistics as the tests do, eval, batch 1, f32):

| side | conversion (timed, in this process except pnnx's converter)                        |
|------|------------------------------------------------------------------------------------|
| irc  | import_model (torch.export) -> run_passes(canonicalize,fuse-bn,fold-constants,cse,dce) -> emit_ncnn |
| pnnx | torch.jit.trace -> save .pt -> `pnnx x.pt inputshape=[...] fp16=0` (its C++ converter, a subprocess) |

Both outputs run in the `ncnn` package (float32, fp16 storage off, 1 thread) on one seeded input: max|d| against
torch, and the median latency of `--runs` extractions after one warm-up. Then two models pnnx cannot take: a
torch.export `.pt2` file (pnnx asks for TorchScript) and a model whose output is a dataclass (torch.jit.trace
refuses it; torch.export takes it once the dataclass is registered as a pytree), both converted by irc and
checked in ncnn. Nothing is asserted; the tables go into README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

MODELS = {"resnet18": 224, "resnet50": 224, "mobilenet_v2": 224, "mobilenet_v3_large": 224, "googlenet": 224,
          "inception_v3": 299, "densenet121": 224, "squeezenet1_0": 224, "shufflenet_v2_x1_0": 224,
          "efficientnet_b0": 224, "regnet_y_400mf": 224, "convnext_tiny": 224, "vgg16": 224, "vit_b_16": 224,
          "swin_t": 224}
EXTRA = {"googlenet": {"aux_logits": False, "init_weights": False},
         "inception_v3": {"aux_logits": False, "init_weights": False}}
PASSES = "canonicalize,fuse-bn,fold-constants,cse,dce"


@dataclass
class Side:
    ok: bool = False
    max_abs: float = float("nan")
    seconds: float = float("nan")
    latency_ms: float = float("nan")
    note: str = ""


def build(name: str):
    import torchvision.models as tvm
    from helpers import randomize_

    return randomize_(getattr(tvm, name)(weights=None, **EXTRA.get(name, {})))


def ncnn_run(param: str, model_bin: str, inputs: dict, output: str, runs: int) -> tuple:
    """(output array, median latency in ms) of a .param/.bin pair in the ncnn package."""
    import ncnn
    import numpy as np

    net = ncnn.Net()
    net.opt.use_fp16_storage = net.opt.use_fp16_arithmetic = net.opt.use_fp16_packed = False
    net.opt.use_bf16_storage = False
    net.opt.num_threads = 1
    if net.load_param(param) != 0 or net.load_model(model_bin) != 0:
        raise RuntimeError("ncnn could not load the files")
    times, out = [], None
    for _ in range(runs + 1):
        t = time.perf_counter()
        ex = net.create_extractor()
        for name, arr in inputs.items():
            ex.input(name, ncnn.Mat(np.ascontiguousarray(arr)))
        ret, mat = ex.extract(output)
        if ret != 0:
            raise RuntimeError(f"ncnn extract failed ({ret})")
        out = np.array(mat)
        times.append((time.perf_counter() - t) * 1000)
    return out, statistics.median(times[1:])


def run_irc(model, x, folder: str, runs: int, reference=None) -> Side:
    """Convert `model` (an nn.Module or ExportedProgram) with irc and score it in ncnn against `reference`
    (default: the model)."""
    from irc.backend.ncnn import emit_ncnn
    from irc.frontend.torch import import_model
    from irc.passes.manager import run_passes

    side = Side()
    try:
        t = time.perf_counter()
        module = import_model(model, [(tuple(x.shape[1:]), "f32")], batch=1)
        run_passes(module, PASSES)
        info = emit_ncnn(module, folder)
        side.seconds = time.perf_counter() - t
        out, side.latency_ms = ncnn_run(os.path.join(folder, "model.ncnn.param"),
                                        os.path.join(folder, "model.ncnn.bin"),
                                        {info["inputs"][0]: x[0].numpy()}, info["outputs"][0], runs)
        return _scored(side, reference or model, x, out)
    except Exception as e:  # noqa: BLE001  (a bench row records any failure)
        side.note = f"{type(e).__name__}: {str(e).splitlines()[0][:90]}"
        return side


def run_pnnx(model, x, folder: str, pnnx: str, runs: int) -> Side:
    import torch

    side = Side()
    pt = os.path.join(folder, "model.pt")
    try:
        t = time.perf_counter()
        with torch.no_grad():
            torch.jit.trace(model, x).save(pt)
        shape = ",".join(str(d) for d in x.shape)
        proc = subprocess.run([pnnx, pt, f"inputshape=[{shape}]", "fp16=0"], cwd=folder, capture_output=True,
                              text=True, timeout=1800)
        side.seconds = time.perf_counter() - t
        param, model_bin = os.path.join(folder, "model.ncnn.param"), os.path.join(folder, "model.ncnn.bin")
        if proc.returncode != 0 or not os.path.exists(param):
            side.note = "pnnx failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1][:80]
            return side
        out, side.latency_ms = ncnn_run(param, model_bin, {"in0": x[0].numpy()}, "out0", runs)
        return _scored(side, model, x, out)
    except Exception as e:  # noqa: BLE001
        side.note = f"{type(e).__name__}: {str(e).splitlines()[0][:90]}"
        return side


def _scored(side: Side, model, x, out) -> Side:
    import numpy as np
    import torch

    with torch.no_grad():
        ref = model(x).numpy()
    if out.size != ref.size:
        side.note = f"output shape {list(out.shape)} vs {list(ref.shape)}"
        return side
    side.max_abs = float(np.abs(out.reshape(ref.shape) - ref).max())
    from irc.fidelity import compare

    verdict = compare(ref, out.reshape(ref.shape), "pass")
    side.ok = verdict.ok
    if not verdict.ok:
        side.note = "outside the pass rule"
    return side


def _cell(side: Side) -> str:
    if np_isnan(side.seconds) or (not side.ok and np_isnan(side.max_abs)):
        return f"{'no':<4} {side.note[:60]}"
    return (f"{'yes' if side.ok else 'NO':<4} {side.max_abs:9.2e} {side.seconds:7.1f}s {side.latency_ms:8.1f}ms"
            + (f" ({side.note})" if side.note else ""))


def np_isnan(v: float) -> bool:
    return v != v


def compare_models(names: list, pnnx: str, runs: int, work: str) -> list:
    import torch

    rows = []
    for name in names:
        model = build(name)
        g = torch.Generator().manual_seed(0)
        x = torch.randn((1, 3, MODELS[name], MODELS[name]), generator=g)
        irc_dir, pnnx_dir = os.path.join(work, name, "irc"), os.path.join(work, name, "pnnx")
        os.makedirs(pnnx_dir, exist_ok=True)
        a = run_irc(model, x, irc_dir, runs)
        b = run_pnnx(model, x, pnnx_dir, pnnx, runs)
        rows.append((name, a, b))
        print(f"{name:<20} irc: {_cell(a)}\n{'':<20} pnnx: {_cell(b)}", flush=True)
    return rows


def table(rows: list) -> list:
    out = ["| model | irc ok | irc max\\|d\\| | irc convert | irc ncnn latency | pnnx ok | pnnx max\\|d\\| | "
           "pnnx convert | pnnx ncnn latency | convert pnnx/irc | latency pnnx/irc |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, a, b in rows:
        def part(s: Side) -> str:
            if np_isnan(s.seconds) or np_isnan(s.latency_ms):
                return f"no ({s.note}) | | | "
            return f"{'yes' if s.ok else 'NO'} | {s.max_abs:.2e} | {s.seconds:.1f} s | {s.latency_ms:.1f} ms"

        ratio_c = b.seconds / a.seconds if a.seconds == a.seconds and b.seconds == b.seconds else float("nan")
        ratio_l = (b.latency_ms / a.latency_ms if a.latency_ms == a.latency_ms and b.latency_ms == b.latency_ms
                   else float("nan"))
        fmt = (lambda r: "-" if r != r else f"{r:.2f}x")  # noqa: E731
        out.append(f"| {name} | {part(a)} | {part(b)} | {fmt(ratio_c)} | {fmt(ratio_l)} |")
    return out


def beyond_pnnx(pnnx: str, work: str, runs: int) -> list:
    """Two models pnnx cannot take, converted by irc."""
    import torch
    import torchvision.models as tvm
    from helpers import randomize_
    from torch import nn

    lines = ["", "Models pnnx cannot take:", ""]
    folder = os.path.join(work, "pt2")
    os.makedirs(folder, exist_ok=True)
    model = randomize_(tvm.resnet18(weights=None))
    x = torch.randn((1, 3, 224, 224), generator=torch.Generator().manual_seed(0))
    path = os.path.join(folder, "resnet18.pt2")
    torch.export.save(torch.export.export(model, (x,)), path)
    proc = subprocess.run([pnnx, path, "inputshape=[1,3,224,224]"], cwd=folder, capture_output=True, text=True,
                          timeout=600)
    said = [ln.strip() for ln in (proc.stdout + proc.stderr).splitlines() if "torchscript" in ln.lower()]
    said = (said or [(proc.stdout + proc.stderr).strip().splitlines()[-1]])[0][:120]
    side = run_irc(torch.export.load(path), x, os.path.join(folder, "irc"), runs, reference=model)
    lines.append(f"- torch.export `.pt2` (resnet18): pnnx exit {proc.returncode}: \"{said}\"; irc: {_cell(side)}")

    @dataclass
    class Output:
        logits: torch.Tensor

    torch.utils._pytree.register_dataclass(Output)

    class WithDataclassOutput(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = randomize_(tvm.mobilenet_v2(weights=None))

        def forward(self, x):
            return Output(self.body(x))

    wrapped = WithDataclassOutput().eval()
    try:
        torch.jit.trace(wrapped, x)
        traced = "traced"
    except Exception as e:  # noqa: BLE001
        traced = f"torch.jit.trace: \"{' '.join(str(e).split())[:100]}\""
    side = run_irc(wrapped, x, os.path.join(work, "dataclass"), runs, reference=wrapped.body)
    lines.append(f"- mobilenet_v2 returning a dataclass: {traced}; irc: {_cell(side)}")
    return lines


def machine() -> str:
    load = os.getloadavg()
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    import ncnn
    import torch

    return (f"{cpu}, {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
            f"python {platform.python_version()}, torch {torch.__version__}, ncnn {ncnn.__version__}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--pnnx", default="/tmp/pnnxenv/bin/pnnx")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--keep", help="keep the converted files in this folder")
    args = ap.parse_args()
    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        ap.error(f"unknown models {unknown}; known: {', '.join(MODELS)}")
    print("machine:", machine(), flush=True)
    with tempfile.TemporaryDirectory(prefix="irc-ncnn-bench.") as tmp:
        work = args.keep or tmp
        rows = compare_models(names, args.pnnx, args.runs, work)
        extra = beyond_pnnx(args.pnnx, work, args.runs)
    print("\nmachine:", machine())
    print("\n".join(table(rows) + extra))


if __name__ == "__main__":
    main()
