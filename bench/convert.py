"""Conversion time and peak memory: irc against what users would pick instead.

    python bench/convert.py [--models resnet50,mobilenet_v2,inception_v3,vgg16] [--tasks pytorch,onnx,onnx2pt]
                            [--repeat 1] [--keep DIR]

Three conversions of torchvision models (weights=None, eval, batch 1, f32), each side by side with
the tool a user would otherwise pick:

| task      | irc                                                         | alternative                               |
|-----------|-------------------------------------------------------------|-------------------------------------------|
| pytorch   | import_model -> run_passes("fuse-bn") -> save .ir -> emit_pytorch | pnnx.export(model, "x.pt", (x,))    |
| onnx      | import_model -> emit_onnx                                   | torch.onnx.export(model, (x,), path)      |
| onnx2pt   | import_onnx -> emit_pytorch                                 | onnx2torch.convert + save code/state_dict |

(pnnx.export is torch.jit.trace + save + pnnx.convert; the bench calls those two steps itself so
that each gets its own time. The onnx2pt input is written once, untimed, by the TorchScript-based
exporter, torch.onnx.export(dynamo=False, opset_version=17): onnx2torch 1.5 cannot read the opset 18
that the default exporter writes (ReduceMean-18).)

Every conversion runs in a fresh Python process, so its wall time includes interpreter start,
`import torch`, building the model (random init) and the process's exit, and its peak RSS includes
everything the process touched. The irc side ends as the irc commands do (irc/tools/_cli.py): with
os._exit once its outputs are on disk. The tools run alternating (A B A B ...) after one warm-up run
each; pnnx runs in its own venv (--pnnx-python).
Peak RSS is the larger of the process tree's ru_maxrss (os.wait4) and the tree's summed RSS sampled
every 20 ms (pnnx runs a second process, its C++ converter, beside the Python one). A "baseline"
process per model (imports + model build only) gives the RSS every tool starts from.

Nothing is asserted; the tables go into README.md's Performance section.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

MODELS = {  # name -> input shape (C, H, W)
    "resnet50": (3, 224, 224),
    "mobilenet_v2": (3, 224, 224),
    "inception_v3": (3, 299, 299),
    "vgg16": (3, 224, 224),
}
PYTHONS: dict = {}  # tool -> interpreter (--pnnx-python)
TOOLS = {"pytorch": ("irc", "pnnx"), "onnx": ("irc", "torch.onnx"), "onnx2pt": ("irc", "onnx2torch")}


# ============================================================================ child side


class Laps:
    """Wall-clock laps in the child; time spent in wrapped writers goes to its own bucket."""

    def __init__(self, t_spawn):
        self.t_spawn = t_spawn
        self.last = t_spawn
        self.phases: list[list] = []  # [name, seconds]
        self.side = 0.0  # seconds moved to other buckets since the last lap

    def lap(self, name):
        now = time.time()
        self._add(name, now - self.last - self.side)
        self.last, self.side = now, 0.0

    def _add(self, name, s):
        for p in self.phases:
            if p[0] == name:
                p[1] += s
                return
        self.phases.append([name, s])

    def wrap(self, owner, attr, bucket, pick=None):
        """Time calls of owner.attr into `bucket` (when pick(*args) is true), apart from the enclosing lap."""
        fn = getattr(owner, attr)

        def timed(*args, **kw):
            if pick is not None and not pick(*args, **kw):
                return fn(*args, **kw)
            t = time.time()
            try:
                return fn(*args, **kw)
            finally:
                dt = time.time() - t
                self._add(bucket, dt)
                self.side += dt

        setattr(owner, attr, timed)


def _build(name):
    import torch
    import torchvision

    torch.manual_seed(0)
    kw = {"aux_logits": True, "init_weights": True} if name == "inception_v3" else {}
    model = getattr(torchvision.models, name)(weights=None, **kw).eval()
    # random BatchNorm statistics and biases, as trained models have (freshly initialised ones make
    # biases zero, and the TorchScript ONNX exporter then shares one zero tensor among them)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if pname.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.01)
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    return model


def _weight_bytes(model):
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


def child(spec):  # noqa: C901  (one straight run of measured phases per converter)
    t_spawn = spec["t_spawn"]
    L = Laps(t_spawn)
    tool, task, name, work = spec["tool"], spec["task"], spec["model"], spec["work"]
    shape = tuple(MODELS[name])
    out = {"build_s": 0.0}
    import warnings

    warnings.simplefilter("ignore")
    import torch

    if tool == "irc":
        import irc
        import irc.ir.weights
        from irc.backend import pytorch as irc_pt
    if task != "onnx2pt":
        import torchvision  # noqa: F401
    if tool == "pnnx":
        import pnnx
    if tool == "onnx2torch":
        import onnx2torch
    L.lap("startup (interpreter, imports)")

    model = None
    if task != "onnx2pt":
        t = time.time()
        model = _build(name)
        out["build_s"] = time.time() - t
        out["weight_bytes"] = _weight_bytes(model)
        L.lap("build model")
    else:
        out["weight_bytes"] = spec["onnx_bytes"]
    x = torch.randn((1,) + shape)

    if tool == "baseline":
        pass
    elif tool == "irc":
        import irc

        L.wrap(irc.ir.weights.WeightStore, "save", "write .ir weights")
        steps = {"decomposing to ATen": "torch.export", "lowering to irc IR": "decompose",
                 "verifying": "lower to IR"}

        def progress(msg):
            if msg in steps:
                L.lap(steps[msg])

        if task in ("pytorch", "onnx"):
            from irc.frontend.torch import import_model

            module = import_model(model, [(shape, "f32")], batch=1, progress=progress)
            L.lap("verify")
        else:
            from irc.frontend.onnx import import_onnx

            seen = set()

            def onnx_progress(msg):
                step = ("onnx.load" if msg == "reading shapes" else
                        "shape inference" if msg.startswith("lowering") else None)
                if step and step not in seen:
                    seen.add(step)
                    L.lap(step)

            module = import_onnx(spec["onnx_in"], progress=onnx_progress)
            L.lap("lower to IR")
        if task == "pytorch":
            irc.run_passes(module, "fuse-bn")
            L.lap("fuse-bn")
            irc.save(module, os.path.join(work, "m.ir"))
            L.lap("print + write .ir")
        if task in ("pytorch", "onnx2pt"):
            emit_steps = {"generating model.py": "emit: verify", "writing model.safetensors": "emit: generate model.py"}

            def emit_progress(msg):
                for k, v in emit_steps.items():
                    if msg.startswith(k):
                        L.lap(v)

            irc_pt.emit_pytorch(module, os.path.join(work, "out"), progress=emit_progress)
            L.lap("emit: write model.safetensors")
        else:
            from irc.backend.onnx import emit_onnx

            emit_onnx(module, os.path.join(work, "m.onnx"), opset=18)
            L.lap("emit onnx")
        out["ops"] = sum(1 for _ in module.ops())
    elif tool == "pnnx":
        pt = os.path.join(work, "x.pt")
        mod = torch.jit.trace(model, (x,))
        L.lap("torch.jit.trace")
        mod.save(pt)
        L.lap("save .pt")
        cwd = os.getcwd()
        os.chdir(work)
        try:
            pnnx.convert(pt, (x,))
        finally:
            os.chdir(cwd)
        L.lap("pnnx binary")
    elif tool == "torch.onnx":
        with torch.no_grad():
            torch.onnx.export(model, (x,), os.path.join(work, "m.onnx"))
        L.lap("torch.onnx.export")
    elif tool == "source.onnx":  # the onnx2pt input: onnx2torch cannot read the default exporter's opset 18
        with torch.no_grad():
            torch.onnx.export(model, (x,), spec["onnx_out"], dynamo=False, opset_version=17)
    elif tool == "onnx2torch":
        gm = onnx2torch.convert(spec["onnx_in"])
        L.lap("onnx2torch.convert")
        with open(os.path.join(work, "model.py"), "w") as f:
            f.write(gm.code)
        torch.save(gm.state_dict(), os.path.join(work, "model.pt"))
        L.lap("save code + state_dict")
    else:
        raise SystemExit(f"unknown tool {tool}")
    out["phases"] = L.phases
    with open(spec["result"], "w") as f:
        json.dump(out, f)
    if tool == "irc":  # as the irc commands end (irc/tools/_cli.py): every output is on disk, skip torch's teardown
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


# ============================================================================ parent side


def _children(pid):
    """The pids of a process's children (Linux /proc)."""
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def _rss(pid):
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _tree_rss(pid):
    """The summed RSS of a process and its descendants (read from /proc; no psutil needed)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += _rss(p)
        todo += _children(p)
    return total


def run_child(spec, log):
    """Run one conversion in a fresh process; return (wall s, peak RSS bytes, child result) or raise."""
    spec = dict(spec)
    spec["result"] = os.path.join(spec["work"], "result.json")
    os.makedirs(spec["work"], exist_ok=True)
    t0 = time.time()
    spec["t_spawn"] = t0
    with open(log, "w") as lf:
        python = PYTHONS.get(spec["tool"], sys.executable)
        p = subprocess.Popen([python, os.path.abspath(__file__), "--child", json.dumps(spec)],
                             stdout=lf, stderr=subprocess.STDOUT, cwd=spec["work"])
        peak = [0]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], _tree_rss(p.pid))
                done.wait(0.02)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.time() - t0
        done.set()
        th.join()
        p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0 or not os.path.exists(spec["result"]):
        with open(log) as f:
            tail = f.read()[-1500:]
        raise RuntimeError(f"exit {p.returncode}\n{tail}")
    with open(spec["result"]) as f:
        res = json.load(f)
    rss = max(ru.ru_maxrss * 1024, peak[0])
    return wall, rss, res  # the whole process, model building included (build_s says how much of it)


def machine_info():
    import torch

    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ram = 0
    try:
        with open("/proc/meminfo") as f:
            ram = int(f.readline().split()[1]) / 1024 / 1024
    except (OSError, ValueError, IndexError):
        pass
    load = os.getloadavg()
    return (f"{cpu}, {os.cpu_count()} cores, {ram:.0f} GB RAM; Python {platform.python_version()}, "
            f"torch {torch.__version__}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def versions():
    out = []
    for mod in ("pnnx", "onnx2torch", "onnx", "onnxscript"):
        try:
            from importlib.metadata import version

            out.append(f"{mod} {version(mod)}")
        except Exception:  # noqa: BLE001, S110
            pass
    return ", ".join(out)


def fmt_s(s):
    return "-" if s is None else f"{s:.1f}"


def fmt_mb(b):
    return "-" if b is None else f"{b / 1e6:.0f}"


def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def main():  # noqa: C901  (argument handling and one table per section, in order)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--tasks", default="pytorch,onnx,onnx2pt")
    ap.add_argument("--repeat", type=int, default=1, help="runs per conversion; the median time and RSS are shown")
    ap.add_argument("--tools", default="irc,pnnx,torch.onnx,onnx2torch", help="which converters to run")
    ap.add_argument("--keep", help="write outputs here (default: a temporary directory, removed at the end)")
    ap.add_argument("--pnnx-python", default="/tmp/pnnxenv/bin/python" if os.path.exists("/tmp/pnnxenv/bin/python")
                    else sys.executable, help="the interpreter that has pnnx (a venv with --system-site-packages)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        sys.path.insert(0, ROOT)
        return child(json.loads(args.child))

    PYTHONS["pnnx"] = args.pnnx_python
    models = [m for m in args.models.split(",") if m]
    tasks = [t for t in args.tasks.split(",") if t]
    for m in models:
        if m not in MODELS:
            raise SystemExit(f"unknown model {m} (known: {', '.join(MODELS)})")
    for t in tasks:
        if t not in TOOLS:
            raise SystemExit(f"unknown task {t} (known: {', '.join(TOOLS)})")
    base = args.keep or tempfile.mkdtemp(prefix="irc-bench-convert-")
    os.makedirs(base, exist_ok=True)
    results = {}  # (task, tool, model) -> (wall, rss, res) | error str

    def run_once(task, tool, model, i, extra):
        """One conversion: (wall, rss, result), or None after recording the failure."""
        work = os.path.join(base, model, f"{task}-{tool}-{i}")
        shutil.rmtree(work, ignore_errors=True)
        spec = {"tool": tool, "task": task, "model": model, "work": work, **(extra or {})}
        try:
            return run_child(spec, os.path.join(base, model, f"{task}-{tool}-{i}.log"))
        except Exception as e:  # noqa: BLE001
            msg = str(e).strip().splitlines()
            results[(task, tool, model)] = "failed: " + (msg[-1] if msg else "?")
            print(f"  {model:14s} {task:8s} {tool:11s} FAILED ({results[(task, tool, model)]})", flush=True)
            return None

    def measure(task, tools, model, extra=None):
        """The tools' runs alternating (A B A B ...) after one untimed warm-up run of each."""
        runs = {tool: [] for tool in tools}
        for i in range(args.repeat + 1):
            for tool in tools:
                if isinstance(results.get((task, tool, model)), str):
                    continue
                r = run_once(task, tool, model, i, extra)
                if r is not None and i > 0:
                    runs[tool].append(r)
        for tool, rs in runs.items():
            if not rs:
                continue
            # each phase's median over the runs (so a phase table row need not add up to the median total)
            res = rs[-1][2]
            res["phases"] = [[n, statistics.median(dict(r[2]["phases"]).get(n, 0.0) for r in rs)]
                             for n, _ in res["phases"]]
            wall, rss = statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs)
            results[(task, tool, model)] = (wall, rss, res)
            print(f"  {model:14s} {task:8s} {tool:11s} {wall:7.1f} s {rss / 1e6:7.0f} MB "
                  f"(build {res.get('build_s', 0):.1f} s; load {os.getloadavg()[0]:.2f})", flush=True)

    print(f"machine: {machine_info()}")
    print(f"alternatives: {versions()}", flush=True)
    for model in models:
        measure("-", ("baseline",), model)
        onnx_in = os.path.join(base, model, "source.onnx")
        for task in tasks:
            if task == "onnx2pt":
                if not os.path.exists(onnx_in):  # the file torch.onnx.export writes, made once, untimed
                    try:
                        run_child({"tool": "source.onnx", "task": "onnx", "model": model, "onnx_out": onnx_in,
                                   "work": os.path.join(base, model, "source")},
                                  os.path.join(base, model, "source.log"))
                    except Exception as e:  # noqa: BLE001
                        print(f"  {model}: cannot make the ONNX input: {e}")
                        continue
                size = os.path.getsize(onnx_in)
                if os.path.exists(onnx_in + ".data"):
                    size += os.path.getsize(onnx_in + ".data")
                extra = {"onnx_in": onnx_in, "onnx_bytes": size}
            else:
                extra = {}
            measure(task, [t for t in TOOLS[task] if t in args.tools.split(",")], model, extra)

    print()
    print(f"machine: {machine_info()}")
    print(f"alternatives: {versions()}")
    print("time: wall seconds of the whole converting process, model build included; RSS: peak MB of the process tree; "
          "weights: f32 state_dict MB")
    for task in tasks:
        alt = TOOLS[task][1]
        print(f"\n### {task}: irc vs {alt}\n")
        print(f"| model | weights MB | irc s | {alt} s | time ratio | irc RSS MB | {alt} RSS MB | RSS ratio | "
              f"irc RSS above baseline MB | that / weights |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for model in models:
            a = results.get((task, "irc", model))
            b = results.get((task, alt, model))
            bl = results.get(("-", "baseline", model))
            if isinstance(a, str) or isinstance(b, str):
                print(f"| {model} | | {a if isinstance(a, str) else fmt_s(a[0])} | "
                      f"{b if isinstance(b, str) else fmt_s(b[0])} | | | | | | |")
                continue
            if a is None or b is None:
                continue
            wb = a[2].get("weight_bytes")
            above = above_w = "-"
            if task != "onnx2pt" and isinstance(bl, tuple) and wb:
                above, above_w = fmt_mb(a[1] - bl[1]), f"{(a[1] - bl[1]) / wb:.2f}x"
            print(f"| {model} | {fmt_mb(wb)} | {fmt_s(a[0])} | {fmt_s(b[0])} | {ratio(a[0], b[0])} | "
                  f"{fmt_mb(a[1])} | {fmt_mb(b[1])} | {ratio(a[1], b[1])} | {above} | {above_w} |")
    bl_row = [f"{m}: {fmt_mb(results[('-', 'baseline', m)][1])}" for m in models
              if isinstance(results.get(("-", "baseline", m)), tuple)]
    print(f"\nbaseline RSS MB (python + imports + built model): {', '.join(bl_row)}")

    for task in tasks:
        for tool in TOOLS[task]:
            rows = [(m, results.get((task, tool, m))) for m in models]
            rows = [(m, r) for m, r in rows if isinstance(r, tuple)]
            if not rows:
                continue
            names = []
            for _, r in rows:
                for n, _ in r[2]["phases"]:
                    if n not in names:
                        names.append(n)
            print(f"\n{task}, {tool}: seconds per phase (medians; process exit = median total - the phases)\n")
            print("| model | " + " | ".join(names) + " | process exit | total |")
            print("|---|" + "---:|" * (len(names) + 2))
            for m, r in rows:
                ph = dict(r[2]["phases"])
                print(f"| {m} | " + " | ".join(f"{ph[n]:.2f}" if n in ph else "-" for n in names)
                      + f" | {r[0] - sum(ph.values()):.2f} | {r[0]:.2f} |")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
