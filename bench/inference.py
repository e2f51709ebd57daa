"""Inference latency: the source model, irc's emitted model, and the emitted model after fuse-bn (also channels-last).

    python bench/inference.py [--models resnet50,mobilenet_v2,inception_v3,vgg16] [--batches 1,8]
                              [--runs 15] [--threads N]

Each torchvision model (weights=None, eval, BatchNorm running statistics randomised) is imported
with a dynamic batch, emitted as is (`plain`) and after `fuse-bn` (`fused`; `fused-copy` is the same
without the in-place forms, to show their effect; `fused-cl` is `fused` emitted with --channels-last),
and the emitted `model.py` files are loaded back with their `load()`. Under torch.inference_mode, with
torch.set_num_threads fixed, the five run in turn (source, plain, fused-copy, fused, fused-cl, source,
...) so that load from other processes hits them alike; after warm-up runs each gets `--runs` timed
forwards and the median is reported, with the ratio to the source. The outputs are compared to the
source's as a sanity check (max |diff| over max(1, max |source output|), the rule irc's tests use).
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

MODELS = {"resnet50": (3, 224, 224), "mobilenet_v2": (3, 224, 224), "inception_v3": (3, 299, 299),
          "vgg16": (3, 224, 224)}


def build(name):
    import torch
    import torchvision

    torch.manual_seed(0)
    kw = {"init_weights": True} if name == "inception_v3" else {}
    model = getattr(torchvision.models, name)(weights=None, **kw).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    return model


def load_emitted(out_dir, tag):
    spec = importlib.util.spec_from_file_location(f"irc_bench_emitted_{tag}", os.path.join(out_dir, "model.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.load()


def machine_info(threads):
    import torch

    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()
    return (f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, torch {torch.__version__}; "
            f"torch.set_num_threads({threads}); load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--runs", type=int, default=15, help="timed forwards per variant and batch (median reported)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()

    import torch

    import irc
    from irc.backend.pytorch import emit_pytorch, emitter
    from irc.frontend.torch import import_model
    from irc.ir.structure import flatten

    torch.set_num_threads(args.threads)
    batches = [int(b) for b in args.batches.split(",")]
    tmp = tempfile.mkdtemp(prefix="irc-bench-inference-")
    rows = []
    try:
        for name in args.models.split(","):
            shape = MODELS[name]
            src = build(name)
            module = import_model(src, [(shape, "f32")], batch="dynamic")
            plain_dir, fused_dir = os.path.join(tmp, name, "plain"), os.path.join(tmp, name, "fused")
            emit_pytorch(module, plain_dir)
            n_bn = sum(1 for op in flatten(module).ops() if op.name == "nn.batch_norm")  # every instance
            irc.run_passes(module, "fuse-bn")
            n_bn_after = sum(1 for op in flatten(module).ops() if op.name == "nn.batch_norm")
            emit_pytorch(module, fused_dir)
            cl_dir = os.path.join(tmp, name, "fused-cl")
            emit_pytorch(module, cl_dir, channels_last=True)
            copy_dir = os.path.join(tmp, name, "fused-copy")  # the same without in-place forms, for their effect
            in_place = emitter._in_place
            emitter._in_place = lambda lines, steps, keep: lines
            try:
                emit_pytorch(module, copy_dir)
            finally:
                emitter._in_place = in_place
            variants = {"source": src, "plain": load_emitted(plain_dir, name + "_plain"),
                        "fused-copy": load_emitted(copy_dir, name + "_copy"),
                        "fused": load_emitted(fused_dir, name + "_fused"),
                        "fused-cl": load_emitted(cl_dir, name + "_cl")}
            for b in batches:
                x = torch.randn((b,) + shape, generator=torch.Generator().manual_seed(b))
                times = {k: [] for k in variants}
                with torch.inference_mode():
                    ref = src(x)
                    scale = max(1.0, float(ref.abs().max()))
                    diffs = {k: float((m(x) - ref).abs().max()) / scale for k, m in variants.items() if k != "source"}
                    for _ in range(args.warmup):
                        for m in variants.values():
                            m(x)
                    for _ in range(args.runs):
                        for k, m in variants.items():
                            t = time.perf_counter()
                            m(x)
                            times[k].append(time.perf_counter() - t)
                med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
                rows.append((name, b, med, diffs, n_bn, n_bn_after))
                print(f"  {name:14s} batch {b}: " + "  ".join(f"{k} {v:8.1f} ms" for k, v in med.items()), flush=True)
            del variants, src, module
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\nmachine: {machine_info(args.threads)}")
    print(f"median of {args.runs} runs after {args.warmup} warm-up runs, milliseconds per forward\n")
    print("| model | batch | source ms | emitted ms | emitted / source | fused, no in-place ms | that / source | "
          "fused ms | fused / source | fused, channels-last ms | that / source | BN ops before -> after fuse-bn | "
          "max abs diff / max(1, max abs output): plain, fused, channels-last |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for name, b, med, diffs, nb, na in rows:
        print(f"| {name} | {b} | {med['source']:.1f} | {med['plain']:.1f} | {med['plain'] / med['source']:.2f}x | "
              f"{med['fused-copy']:.1f} | {med['fused-copy'] / med['source']:.2f}x | "
              f"{med['fused']:.1f} | {med['fused'] / med['source']:.2f}x | "
              f"{med['fused-cl']:.1f} | {med['fused-cl'] / med['source']:.2f}x | {nb} -> {na} | "
              f"{diffs['plain']:.1e}, {diffs['fused']:.1e}, {diffs['fused-cl']:.1e} |")


if __name__ == "__main__":
    main()
