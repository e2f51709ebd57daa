"""Peak memory and time of irc on a ~1B-parameter decoder-only transformer (random f32 weights, ~4 GB).

    python bench/scale.py [--layers 16 --dim 2048 --heads 16 --vocab 50257 --seq 128] [--keep DIR]

The model (token embedding, pre-LayerNorm blocks of causal scaled-dot-product attention and a GELU
MLP, final LayerNorm, untied LM head) is built in the child process on the meta device and then
materialised in place, parameter by parameter, with random values: its weights exist once. The child
then runs irc the way `irc-import` + `irc-emit` do: import_model (torch.export, decompositions,
lowering, verification) -> irc.save (the .ir and its safetensors) -> emit_pytorch (model.py +
model.safetensors).

The parent samples the child's RSS every 10 ms and reports, per phase, the RSS at the phase's end and
the highest RSS seen during it. Memory is given as a multiple of the weight bytes W, above the RSS
of the same process after `import torch, irc` (torch's own baseline): the model itself accounts for
1.0x of it. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def make_model(cfg):
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Attention(nn.Module):
        def __init__(self, d, h):
            super().__init__()
            self.h = h
            self.q = nn.Linear(d, d, bias=False)
            self.k = nn.Linear(d, d, bias=False)
            self.v = nn.Linear(d, d, bias=False)
            self.o = nn.Linear(d, d, bias=False)

        def forward(self, x):
            b, t, d = x.shape
            q, k, v = (p(x).view(b, t, self.h, d // self.h).transpose(1, 2) for p in (self.q, self.k, self.v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.o(y.transpose(1, 2).reshape(b, t, d))

    class Block(nn.Module):
        def __init__(self, d, h, f):
            super().__init__()
            self.ln1 = nn.LayerNorm(d)
            self.attn = Attention(d, h)
            self.ln2 = nn.LayerNorm(d)
            self.fc1 = nn.Linear(d, f)
            self.fc2 = nn.Linear(f, d)

        def forward(self, x):
            x = x + self.attn(self.ln1(x))
            return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))

    class Decoder(nn.Module):
        def __init__(self, c):
            super().__init__()
            # token and position tables as plain parameters read by indexing: the torch frontend has no
            # lowering for aten.embedding yet (indexing lowers to nn.gather)
            self.embed = nn.Parameter(torch.empty(c["vocab"], c["dim"]))
            self.pos = nn.Parameter(torch.empty(c["seq"], c["dim"]))
            self.blocks = nn.ModuleList(Block(c["dim"], c["heads"], 4 * c["dim"]) for _ in range(c["layers"]))
            self.ln_f = nn.LayerNorm(c["dim"])
            self.head = nn.Linear(c["dim"], c["vocab"], bias=False)

        def forward(self, tokens):
            x = self.embed[tokens] + self.pos[: tokens.shape[1]]
            for blk in self.blocks:
                x = blk(x)
            return self.head(self.ln_f(x))

    with torch.device("meta"):
        model = Decoder(cfg)
    # materialise one module at a time; every parameter is written once, in place
    g = torch.Generator().manual_seed(0)
    for mod in model.modules():
        mod.to_empty(device="cpu", recurse=False)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            elif ".ln" in name or name.startswith("ln_"):
                p.fill_(1.0)
            else:
                p.normal_(0.0, 0.02, generator=g)
    return model.eval()


# ============================================================================ child


def child(spec):
    marks = [("spawn", spec["t_spawn"])]

    def mark(name):
        marks.append((name, time.time()))

    import warnings

    warnings.simplefilter("ignore")
    import torch

    import irc
    from irc.backend.pytorch import emit_pytorch
    from irc.frontend.torch import import_model

    mark("startup (import torch, irc)")
    cfg = spec["cfg"]
    model = make_model(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    w_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    mark("build model")
    steps = {"decomposing to ATen": "torch.export", "lowering to irc IR": "run_decompositions",
             "verifying": "lower to IR"}
    module = import_model(model, [((cfg["seq"],), "i64")], batch=1, name="decoder",
                          progress=lambda m: mark(steps[m]) if m in steps else None)
    mark("verify")
    import irc.ir.weights as W

    save_weights = W.WeightStore.save

    def timed_save(*a, **kw):
        mark("irc.save: print the .ir")
        save_weights(*a, **kw)
        mark("irc.save: write m.safetensors")

    W.WeightStore.save = timed_save
    irc.save(module, os.path.join(spec["work"], "m.ir"))
    mark("irc.save: write the .ir")
    emit_steps = {"generating model.py": "emit: verify", "writing model.safetensors": "emit: generate model.py"}

    def emit_progress(msg):
        for k, v in emit_steps.items():
            if msg.startswith(k):
                mark(v)

    emit_pytorch(module, os.path.join(spec["work"], "out"), progress=emit_progress)
    mark("emit: write model.safetensors")
    with open(spec["result"], "w") as f:
        json.dump({"marks": marks, "params": n_params, "weight_bytes": w_bytes,
                   "ops": sum(1 for _ in module.ops()), "torch": torch.__version__}, f)


# ============================================================================ parent


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--vocab", type=int, default=50257)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--keep", help="write the outputs here (default: a temporary directory, removed at the end)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        sys.path.insert(0, ROOT)
        return child(json.loads(args.child))

    import psutil

    cfg = {k: getattr(args, k) for k in ("layers", "dim", "heads", "vocab", "seq")}
    work = args.keep or tempfile.mkdtemp(prefix="irc-bench-scale-")
    os.makedirs(work, exist_ok=True)
    base = _baseline()
    spec = {"cfg": cfg, "work": work, "result": os.path.join(work, "result.json"), "t_spawn": time.time()}
    log = os.path.join(work, "child.log")
    samples = []
    with open(log, "w") as lf:
        p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)],
                             stdout=lf, stderr=subprocess.STDOUT)
        done = threading.Event()

        def sample():
            pp = psutil.Process(p.pid)
            while not done.is_set():
                try:
                    samples.append((time.time(), pp.memory_info().rss))
                except Exception:  # noqa: BLE001
                    break
                done.wait(0.01)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        _, status, ru = os.wait4(p.pid, 0)
        done.set()
        th.join()
    if os.waitstatus_to_exitcode(status) != 0:
        with open(log) as f:
            sys.exit("the child failed:\n" + f.read()[-3000:])
    with open(spec["result"]) as f:
        res = json.load(f)
    peak = max(ru.ru_maxrss * 1024, max((r for _, r in samples), default=0))
    W = res["weight_bytes"]
    gb = 1e9

    load = os.getloadavg()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {_ram_gb():.0f} GB RAM; Python "
          f"{platform.python_version()}, torch {res['torch']}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"model: {cfg['layers']} blocks, dim {cfg['dim']}, {cfg['heads']} heads, vocab {cfg['vocab']}, seq "
          f"{cfg['seq']}: {res['params'] / 1e9:.3f} B parameters, W = {W / gb:.2f} GB of f32 weights; "
          f"{res['ops']} IR ops")
    print(f"baseline RSS after `import torch, irc` (separate process): {base / gb:.2f} GB\n")
    print("| phase | seconds | RSS at end GB | peak RSS in phase GB | peak above baseline / W |")
    print("|---|---:|---:|---:|---:|")
    marks = res["marks"]
    for (_, t0), (name, t1) in itertools.pairwise(marks):
        inside = [r for t, r in samples if t0 <= t <= t1]
        after = [r for t, r in samples if t >= t1]
        end = after[0] if after else (inside[-1] if inside else 0)
        top = max(inside + [end]) if inside or end else 0
        print(f"| {name} | {t1 - t0:.1f} | {end / gb:.2f} | {top / gb:.2f} | {(top - base) / W:.2f}x |")
    total = marks[-1][1] - marks[0][1]
    print(f"| **whole run** | {total:.1f} | | {peak / gb:.2f} | **{(peak - base) / W:.2f}x** |")
    print(f"\npeak RSS {peak / gb:.2f} GB = baseline {base / gb:.2f} GB + {(peak - base) / W:.2f} x W "
          f"(the model itself is 1.00 x W; target: at most 1.5 x W above the baseline)")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def _baseline():
    """RSS of a fresh process after `import torch, irc` (what every conversion starts from)."""
    code = (f"import sys; sys.path.insert(0, {ROOT!r}); "
            "import torch, irc, irc.frontend.torch, irc.backend.pytorch, psutil; "
            "print(psutil.Process().memory_info().rss)")
    return int(subprocess.check_output([sys.executable, "-c", code]).split()[-1])


def _ram_gb():
    with open("/proc/meminfo") as f:
        return int(f.readline().split()[1]) / 1024 / 1024


if __name__ == "__main__":
    main()
