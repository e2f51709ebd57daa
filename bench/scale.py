"""Peak memory and time of irc on large decoder-only transformers.

    python bench/scale.py [--layers 16 --dim 2048 --heads 16 --vocab 50257 --seq 128] [--keep DIR]
    python bench/scale.py --checkpoint --preset 7b     # a 6.7 B-parameter bf16 checkpoint, 13.4 GB
    python bench/scale.py --checkpoint --preset 1b     # the same at 1 B parameters, for comparison

Checkpoint mode (--checkpoint): the bench first writes a Hugging Face style sharded safetensors checkpoint with
seeded random bf16 weights (one tensor in memory at a time; not counted) and decoder.py beside it. The child
then does what `irc-import model.safetensors.index.json --arch decoder.py:Decoder --input tokens:128:i64
-o checkpoint/m.ir` and `irc-emit checkpoint/m.ir --target pytorch -o out` do: the model is built on the meta
device, the IR written beside the shards refers to them, and the emitted model.safetensors is copied from the
shards file to file. Peak RSS is reported absolute (target: at most 3 GB for the 7B model).

Default mode: a ~1B-parameter model with random f32 weights (~4 GB) in memory.

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


DECODER = '''"""The decoder bench/scale.py converts (written beside its checkpoint as the --arch file)."""
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
    def __init__(self, layers, dim, heads, vocab, seq):
        super().__init__()
        # token and position tables as plain parameters read by indexing (lowered to nn.gather)
        self.embed = nn.Parameter(torch.empty(vocab, dim))
        self.pos = nn.Parameter(torch.empty(seq, dim))
        self.blocks = nn.ModuleList(Block(dim, heads, 4 * dim) for _ in range(layers))
        self.ln_f = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=False)

    def forward(self, tokens):
        x = self.embed[tokens] + self.pos[: tokens.shape[1]]
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln_f(x))
'''


def decoder_class():
    ns = {}
    exec(compile(DECODER, "decoder.py", "exec"), ns)  # noqa: S102 (our own source, above)
    return ns["Decoder"]


def make_model(cfg):
    import torch

    Decoder = decoder_class()
    with torch.device("meta"):
        model = Decoder(**cfg)
    # materialise one module at a time; every parameter is written once, in place
    g = torch.Generator().manual_seed(0)
    for mod in model.modules():
        mod.to_empty(device="cpu", recurse=False)
    with torch.no_grad():
        for name, p in model.named_parameters():
            _init(name, p, g)
    return model.eval()


def _init(name, t, g):
    """The bench's weights: biases 0, LayerNorm scales 1, the rest N(0, 0.02), seeded."""
    if name.endswith("bias"):
        t.zero_()
    elif ".ln" in name or name.startswith("ln_"):
        t.fill_(1.0)
    else:
        t.normal_(0.0, 0.02, generator=g)


# ============================================================================ child


def child(spec):
    marks = [("spawn", spec["t_spawn"])]

    def mark(name):
        marks.append((name, time.time()))

    import warnings

    warnings.simplefilter("ignore")
    import torch

    import irc
    import irc.backend.pytorch  # noqa: F401 (its import time counts as startup)
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
    _emit_marked(module, os.path.join(spec["work"], "out"), mark, "emit")
    mark("emit: write model.safetensors")
    with open(spec["result"], "w") as f:
        json.dump({"marks": marks, "params": n_params, "weight_bytes": w_bytes,
                   "ops": sum(1 for _ in module.ops()), "torch": torch.__version__}, f)


def _emit_marked(module, out, mark, prefix):
    """emit_pytorch with a mark after its verify and its model.py."""
    from irc.backend.pytorch import emit_pytorch

    steps = {"generating model.py": f"{prefix}: verify", "writing model.safetensors": f"{prefix}: generate model.py"}

    def progress(msg):
        for k, v in steps.items():
            if msg.startswith(k):
                mark(v)

    emit_pytorch(module, out, progress=progress)


# ============================================================================ checkpoint mode


PRESETS = {  # --preset NAME: a decoder of that size (GPT-style blocks; "7b" has LLaMA-7B's width and depth)
    "1b": {"layers": 16, "dim": 2048, "heads": 16, "vocab": 50257, "seq": 128},
    "7b": {"layers": 32, "dim": 4096, "heads": 32, "vocab": 32000, "seq": 128},
}


def write_checkpoint(cfg, folder, dtype="bfloat16", shard_bytes=4 * 10**9):
    """A Hugging Face style sharded safetensors checkpoint of the decoder with seeded random weights, written
    tensor by tensor (one tensor in memory at a time), and decoder.py beside it. Returns the index's path."""
    import torch

    sys.path.insert(0, ROOT)
    from irc.ir.weights import safetensors_header

    with open(os.path.join(folder, "decoder.py"), "w") as f:
        f.write(DECODER)
    with torch.device("meta"):
        model = decoder_class()(**cfg)
    tdt = getattr(torch, dtype)
    names = list(model.state_dict())
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    shards, cur, size = [], [], 0
    for k in names:
        n = tdt.itemsize * _numel(shapes[k])
        if cur and size + n > shard_bytes:
            shards.append(cur)
            cur, size = [], 0
        cur.append(k)
        size += n
    shards.append(cur)
    g = torch.Generator().manual_seed(0)
    wmap, total = {}, 0
    irdt = {"bfloat16": "bf16", "float16": "f16", "float32": "f32"}[dtype]
    for i, keys in enumerate(shards):
        name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        with open(os.path.join(folder, name), "wb") as f:
            f.write(safetensors_header([(k, irdt, shapes[k]) for k in keys]))
            for k in keys:
                t = torch.empty(shapes[k], dtype=tdt)
                _init(k, t, g)
                f.write(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
                total += t.numel() * t.element_size()
                del t
        wmap.update(dict.fromkeys(keys, name))
    index = os.path.join(folder, "model.safetensors.index.json")
    with open(index, "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": wmap}, f, indent=2)
    return index, len(shards)


def _numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def child_checkpoint(spec):
    """What `irc-import model.safetensors.index.json --arch decoder.py:Decoder -o ckpt/m.ir` and then
    `irc-emit ckpt/m.ir --target pytorch -o out` do, with a mark after each phase."""
    marks = [("spawn", spec["t_spawn"])]

    def mark(name):
        marks.append((name, time.time()))

    import warnings

    warnings.simplefilter("ignore")
    import torch

    import irc
    import irc.backend.pytorch  # noqa: F401 (its import time counts as startup)
    from irc.frontend.torch import import_model
    from irc.frontend.torch.load import load_source

    mark("startup (import torch, irc)")
    cfg, folder = spec["cfg"], spec["folder"]
    src = load_source(spec["index"], arch=os.path.join(folder, "decoder.py") + ":Decoder", arch_args=cfg)
    mark("irc-import: build on the meta device, read the shards' headers")
    steps = {"decomposing to ATen": "irc-import: torch.export", "lowering to irc IR": "irc-import: decompositions",
             "verifying": "irc-import: lower to IR"}
    module = import_model(src.model, [((cfg["seq"],), "i64")], batch=1, name="decoder", weights=src.weights,
                          progress=lambda m: mark(steps[m]) if m in steps else None)
    mark("irc-import: verify")
    n_ops = sum(1 for _ in module.ops())
    ir_path = os.path.join(folder, "m.ir")
    wname = irc.save(module, ir_path)
    mark("irc-import: irc.save (m.ir and its index, beside the shards)")
    del module, src
    module = irc.load(ir_path)
    mark("irc-emit: load and verify m.ir")
    out = os.path.join(spec["work"], "out")
    _emit_marked(module, out, mark, "irc-emit")
    mark("irc-emit: stream model.safetensors")
    own = os.path.join(folder, "m.safetensors")
    with open(spec["result"], "w") as f:
        json.dump({"marks": marks, "ops": n_ops, "torch": torch.__version__, "weights_name": wname,
                   "own_bytes": os.path.getsize(own) if os.path.exists(own) else 0,
                   "ir_bytes": os.path.getsize(ir_path),
                   "emitted_bytes": os.path.getsize(os.path.join(out, "model.safetensors"))}, f)


def main_checkpoint(args, cfg, work):
    import torch

    folder = os.path.join(work, "checkpoint")
    os.makedirs(folder, exist_ok=True)
    t0 = time.time()
    index, n_shards = write_checkpoint(cfg, folder)
    t_write = time.time() - t0
    with open(index) as f:
        total = json.load(f)["metadata"]["total_size"]
    with torch.device("meta"):
        n_params = sum(p.numel() for p in decoder_class()(**cfg).parameters())
    base = _baseline()
    spec = {"cfg": cfg, "work": work, "folder": folder, "index": index, "checkpoint": True,
            "result": os.path.join(work, "result.json"), "t_spawn": time.time()}
    res, samples, peak = _run_child(spec, work)
    checked = _same_tensors(index, os.path.join(work, "out", "model.safetensors"))
    gb = 1e9
    _machine_line(res)
    print(f"model: {cfg['layers']} blocks, dim {cfg['dim']}, {cfg['heads']} heads, vocab {cfg['vocab']}, seq "
          f"{cfg['seq']}: {n_params / 1e9:.3f} B parameters, W = {total / gb:.2f} GB of bf16 weights in {n_shards} "
          f"shard{'s' * (n_shards != 1)} (written by the bench in {t_write:.0f} s, not counted); {res['ops']} ops in "
          f"the IR with its blocks")
    print(f"machine RAM {_ram_gb():.0f} GB; baseline RSS after `import torch, irc` (separate process): "
          f"{base / gb:.2f} GB\n")
    _phase_table(res["marks"], samples, base, None)
    total_s = res["marks"][-1][1] - res["marks"][0][1]
    print(f"| **whole run** | {total_s:.1f} | | {peak / gb:.2f} | |")
    print(f"\npeak RSS {peak / gb:.2f} GB for {total / gb:.2f} GB of weights (target: at most 3 GB). The IR names "
          f"{res['weights_name']}, which refers to the checkpoint's shards; m.ir is {res['ir_bytes'] / 1e3:.0f} kB and "
          f"m.safetensors holds {res['own_bytes']} bytes of tensors no shard has; the emitted model.safetensors "
          f"is {res['emitted_bytes'] / gb:.2f} GB, copied file to file: {checked}.")


def _same_tensors(index, emitted):
    """Check (after the run, outside it) that the emitted file holds every checkpoint tensor under its name with its
    dtype and shape, and the same bytes at both ends of each tensor: a description of what was checked."""
    from irc.ir.weights import WeightStore

    src, out = WeightStore(index), WeightStore(emitted)
    assert src.keys() == out.keys(), "the emitted tensors are not the checkpoint's"
    for k in src.keys():
        assert src.type_of(k) == out.type_of(k), k
        ends = []
        for store in (src, out):
            f = store._where[k]
            start, n = f.span(k)
            with open(f.path, "rb") as fh:
                ends.append(os.pread(fh.fileno(), min(n, 4096), start) + os.pread(fh.fileno(), min(n, 4096),
                                                                                  start + n - min(n, 4096)))
        assert ends[0] == ends[1], f"{k}: the emitted bytes differ from the checkpoint's"
    return f"its {len(src.keys())} tensors have the checkpoint's names, dtypes, shapes and first and last 4 kB"


# ============================================================================ parent


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), help="a decoder size (overrides --layers ... --seq)")
    ap.add_argument("--checkpoint", action="store_true",
                    help="convert a sharded bf16 safetensors checkpoint (written first) with the model on the meta "
                         "device, as `irc-import model.safetensors.index.json --arch` and `irc-emit` do")
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
        spec = json.loads(args.child)
        return child_checkpoint(spec) if spec.get("checkpoint") else child(spec)

    cfg = dict(PRESETS[args.preset]) if args.preset else {k: getattr(args, k) for k in ("layers", "dim", "heads",
                                                                                          "vocab", "seq")}
    work = args.keep or tempfile.mkdtemp(prefix="irc-bench-scale-")
    os.makedirs(work, exist_ok=True)
    try:
        if args.checkpoint:
            return main_checkpoint(args, cfg, work)
        base = _baseline()
        spec = {"cfg": cfg, "work": work, "result": os.path.join(work, "result.json"), "t_spawn": time.time()}
        res, samples, peak = _run_child(spec, work)
        W = res["weight_bytes"]
        gb = 1e9
        _machine_line(res)
        print(f"model: {cfg['layers']} blocks, dim {cfg['dim']}, {cfg['heads']} heads, vocab {cfg['vocab']}, seq "
              f"{cfg['seq']}: {res['params'] / 1e9:.3f} B parameters, W = {W / gb:.2f} GB of f32 weights; "
              f"{res['ops']} IR ops")
        print(f"baseline RSS after `import torch, irc` (separate process): {base / gb:.2f} GB\n")
        _phase_table(res["marks"], samples, base, W)
        total = res["marks"][-1][1] - res["marks"][0][1]
        print(f"| **whole run** | {total:.1f} | | {peak / gb:.2f} | **{(peak - base) / W:.2f}x** |")
        print(f"\npeak RSS {peak / gb:.2f} GB = baseline {base / gb:.2f} GB + {(peak - base) / W:.2f} x W "
              f"(the model itself is 1.00 x W; target: at most 1.5 x W above the baseline)")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def _run_child(spec, work):
    """Run the child on `spec`, sampling its RSS every 10 ms: (its result, the samples, the peak RSS)."""
    import psutil

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
    return res, samples, max(ru.ru_maxrss * 1024, max((r for _, r in samples), default=0))


def _machine_line(res):
    load = os.getloadavg()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {_ram_gb():.0f} GB RAM; Python "
          f"{platform.python_version()}, torch {res['torch']}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def _phase_table(marks, samples, base, W):
    """Per phase: seconds, RSS at its end, the highest RSS seen during it (and that above the baseline / W)."""
    gb = 1e9
    print("| phase | seconds | RSS at end GB | peak RSS in phase GB |" + (" peak above baseline / W |" if W else ""))
    print("|---|---:|---:|---:|" + ("---:|" if W else ""))
    for (_, t0), (name, t1) in itertools.pairwise(marks):
        inside = [r for t, r in samples if t0 <= t <= t1]
        after = [r for t, r in samples if t >= t1]
        end = after[0] if after else (inside[-1] if inside else 0)
        top = max(inside + [end]) if inside or end else 0
        print(f"| {name} | {t1 - t0:.1f} | {end / gb:.2f} | {top / gb:.2f} |" +
              (f" {(top - base) / W:.2f}x |" if W else ""))


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
