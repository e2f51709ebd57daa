"""How long and how structured is the PyTorch code irc emits, against the model's own source and pnnx's.

    python bench/structure.py [--models resnet18,resnet50,...] [--pnnx-python /tmp/pnnxenv/bin/python]
                              [--yolo-python /tmp/yoloenv/bin/python]

Models: resnet18, resnet50, mobilenet_v2, inception_v3 (aux_logits=False, init_weights=False, 299x299),
efficientnet_b0, vit_b_16 (torchvision, weights=None, 224x224) and yolov8n (ultralytics, built from
"yolov8n.yaml", Detect head in export mode so the output is one tensor, one dry run to cache its anchors as
ultralytics' exporter does, 320x320). Batch 1, f32; the weights are left as initialised (line counts do not
depend on them). For each model:

- source lines: the summed `inspect.getsource(cls)` line counts of every distinct class among
  `model.modules()` whose `__module__` does not start with "torch." (class bodies only: no imports, no
  module-level helpers, no base classes that are not themselves modules of the model).
- irc: `import_model` -> `emit_pytorch`, then `run_passes("fuse-bn")` -> `emit_pytorch` again. model.py is
  measured as "total / classes part", where the classes part is the summed length of the top-level `class`
  blocks (a class line up to the next top-level statement), without irc's `Container` helper class; "classes"
  counts those top-level classes.
- pnnx: torch.jit.trace -> save x.pt -> `pnnx.convert("x.pt", (x,))` (as bench/convert.py does); its
  `x_pnnx.py` is measured the same way. irc/pnnx is the ratio of the total line counts.

Only the written files are looked at, so this works whatever shape the emitters give their code. Each side of
each model runs in its own process (this script with the hidden --child flag); a failure is printed in the
model's row and the script goes on. Nothing is asserted.

Setup (both venvs see the system torch, torchvision and irc; nothing is installed into the system Python):

    python -m venv --system-site-packages /tmp/pnnxenv && /tmp/pnnxenv/bin/pip install --no-deps pnnx
    python -m venv --system-site-packages /tmp/yoloenv && /tmp/yoloenv/bin/pip install --no-deps ultralytics pnnx

(ultralytics 8.4 imports with the system packages alone; its settings file goes under $YOLO_CONFIG_DIR, which
this script points into a temporary directory.) The irc side of yolov8n runs in the yolo venv, and so does its
pnnx side.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

MODELS = {"resnet18": 224, "resnet50": 224, "mobilenet_v2": 224, "inception_v3": 299, "efficientnet_b0": 224,
          "vit_b_16": 224, "yolov8n": 320}
EXTRA = {"inception_v3": {"aux_logits": False, "init_weights": False}}
MARK = "STRUCTURE-RESULT "
CLASS_RE = re.compile(r"^class\s+(\w+)")
ERROR_RE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b")


# ============================================================================ child side (one model, one side)


def build(name: str):
    """The model in eval mode, and its input shape without the batch."""
    size = MODELS[name]
    if name == "yolov8n":
        from ultralytics.nn.tasks import DetectionModel

        model = DetectionModel("yolov8n.yaml", verbose=False)
        for module in model.modules():
            if hasattr(module, "export") and type(module).__name__ == "Detect":
                module.export = True  # forward returns the one decoded tensor, not (y, raw maps)
        import torch

        with torch.no_grad():  # as ultralytics' exporter does: a dry run caches the anchors, so that the
            model.eval()(torch.zeros(1, 3, size, size))  # traced and exported graphs take the same branch
    else:
        import torchvision.models as tvm

        model = getattr(tvm, name)(weights=None, **EXTRA.get(name, {}))
    return model.eval(), (3, size, size)


def source_lines(model) -> int:
    """Lines of the class definitions of the model's own (non-torch) modules."""
    classes = {type(m) for m in model.modules() if not type(m).__module__.startswith("torch.")}
    return sum(len(inspect.getsource(cls).splitlines()) for cls in classes)


def measure(path: str) -> dict:
    """Total lines of a Python file, the lines of its top-level class blocks and their number
    (irc's `Container` helper excluded)."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    n_classes, class_lines, inside = 0, 0, False
    for line in lines:
        top_level = line[:1] not in ("", " ", "\t", "#", ")", "]", "}")
        if top_level:
            found = CLASS_RE.match(line)
            inside = bool(found) and found.group(1) != "Container"
            n_classes += inside
        class_lines += inside
    return {"total": len(lines), "classes_part": class_lines, "classes": n_classes}


def irc_side(name: str, work: str) -> dict:
    import torch

    from irc.backend.pytorch import emit_pytorch
    from irc.frontend.torch import import_model
    from irc.passes.manager import run_passes

    model, shape = build(name)
    out = {"source": source_lines(model), "plain": None, "fuse_bn": None}
    try:  # what was measured before a failure stands
        with torch.no_grad():
            mod = import_model(model, [(shape, "f32")], batch=1)
        out["plain"] = measure(emit_pytorch(mod, os.path.join(work, "plain"))["model.py"])
        run_passes(mod, "fuse-bn")
        out["fuse_bn"] = measure(emit_pytorch(mod, os.path.join(work, "fuse_bn"))["model.py"])
    except Exception as exc:  # reported in the table
        message = (str(exc).strip().splitlines() or [""])[0]
        out["plain" if out["plain"] is None else "fuse_bn"] = {"error": f"failed: {type(exc).__name__}: {message}"}
    return out


def pnnx_side(name: str, work: str) -> dict:
    import pnnx
    import torch

    model, shape = build(name)
    x = torch.randn((1,) + shape)
    pt = os.path.join(work, "x.pt")
    with torch.no_grad():
        torch.jit.trace(model, (x,)).save(pt)
    cwd = os.getcwd()
    os.chdir(work)
    try:
        pnnx.convert(pt, (x,))
    finally:
        os.chdir(cwd)
    return {"pnnx": measure(os.path.join(work, "x_pnnx.py"))}


def child(side: str, name: str, work: str) -> None:
    result = (irc_side if side == "irc" else pnnx_side)(name, work)
    sys.stdout.flush()
    print(MARK + json.dumps(result), flush=True)


# ============================================================================ parent side


def one_line(text: str) -> str:
    """A child's error in one line for a table cell: the last exception line of its output (an irc error's notes
    may follow it), else the last non-empty line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    raised = [line for line in lines if ERROR_RE.match(line)]
    return ((raised or lines or ["no output"])[-1]).replace("|", "/")[:160]


def run_child(python: str, side: str, name: str, work: str) -> dict:
    os.makedirs(work, exist_ok=True)
    env = dict(os.environ, YOLO_CONFIG_DIR=os.path.join(work, "yolocfg"), YOLO_OFFLINE="1")
    cmd = [python, os.path.abspath(__file__), "--child", side, name, work]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env=env, cwd=work)
    except subprocess.TimeoutExpired:
        return {"error": f"failed: {side} timed out after 1800 s"}
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    return {"error": f"failed ({side}): " + one_line(proc.stderr or proc.stdout)}


def cell(result: dict, key: str, both: bool = True) -> str:
    """"total / classes part" (both) or the class count of result[key]; a failure is spelled once, in the
    lines column."""
    got = result if "error" in result else result.get(key)
    if got is None or ("error" in got and not both):
        return "-"
    if "error" in got:
        return got["error"].replace("|", "/")[:160]
    return f"{got['total']} / {got['classes_part']}" if both else str(got["classes"])


def row(name: str, irc: dict, pnnx: dict) -> str:
    try:
        ratio = f"{irc['plain']['total'] / pnnx['pnnx']['total']:.2f}"
    except (KeyError, TypeError):  # a side failed
        ratio = "-"
    fused = "-" if "error" in irc else cell(irc, "fuse_bn")  # a failed child is spelled once
    return (f"| {name} | {irc.get('source', '-')} | {cell(irc, 'plain')} | {cell(irc, 'plain', False)} "
            f"| {fused} | {cell(pnnx, 'pnnx')} | {cell(pnnx, 'pnnx', False)} | {ratio} |")


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{platform.platform()}, {cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated, from: " + ", ".join(MODELS))
    ap.add_argument("--pnnx-python", default="/tmp/pnnxenv/bin/python", help="an interpreter that has pnnx")
    ap.add_argument("--yolo-python", default="/tmp/yoloenv/bin/python",
                    help="an interpreter that has ultralytics and pnnx (both sides of yolov8n run in it)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
    print(f"machine: {machine()}\n")
    print("| model | source lines | irc model.py lines (total / classes part) | irc classes "
          "| irc after fuse-bn lines (total / classes part) | pnnx _pnnx.py lines (total / classes part) "
          "| pnnx classes | irc/pnnx ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="irc-bench-structure-") as tmp:
        for name in names:
            irc_python = args.yolo_python if name == "yolov8n" else sys.executable
            pnnx_python = args.yolo_python if name == "yolov8n" else args.pnnx_python
            irc = run_child(irc_python, "irc", name, os.path.join(tmp, name, "irc"))
            pnnx = run_child(pnnx_python, "pnnx", name, os.path.join(tmp, name, "pnnx"))
            print(row(name, irc, pnnx), flush=True)


if __name__ == "__main__":
    main()
