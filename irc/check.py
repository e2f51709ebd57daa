"""`irc-check`: does the converted model compute what the source computes?

Runs the source model and a target — the IR itself (with the torch executor), an emitted PyTorch
directory, or a framework file in its own runtime (ONNX in onnxruntime, TFLite in LiteRT, Caffe in OpenCV,
ncnn, Keras: `irc.runtimes`) — on the same seeded random inputs and compares every output with
`irc.fidelity.compare`, the rules of DESIGN.md's fidelity table.

Inputs: one tensor per forward argument, shaped as the IR's argument types, with every dynamic
dimension (`?`, normally the batch) set to the batch size; when any dimension is dynamic the check
runs at two batch sizes (1 and 3), as the design asks. Floats are standard normal, integers 0 or 1,
from a torch.Generator seeded with `seed` and the batch size.

Which rule ("auto", the default):
- `exact` (bit-identical or rtol=1e-5, atol=1e-6) when every weight of the target is one of the
  source's own tensors, unchanged: an unoptimised import, or its emitted code;
- `pass` (max|Δ| ≤ 1e-4·max(1, max|ref|) and rtol=1e-3, atol=1e-4) when some weight is new or
  differs — a fusion or folding pass made it — and always for a framework runtime.
The IR carries no record of the passes that ran on it, but a numeric pass always leaves new or
changed tensors behind, so the weights tell; `rule="exact"|"pass"` overrides the guess.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .fidelity import Verdict, compare
from .ir import IrcError, Module
from .ir.structure import flatten
from .ir.writer import finish_pending_writes

if TYPE_CHECKING:
    from collections.abc import Iterable
    from types import ModuleType

    import torch

    from .ir import TensorType

BATCHES = (1, 3)


@dataclass
class CheckResult:
    target: str  # "ir", "emitted", or a runtime's kind ("onnx", "tflite", ...)
    rule: str
    rule_reason: str
    rows: list = field(default_factory=list)  # (batch, output name, Verdict)
    problems: list = field(default_factory=list)  # messages for what could not be compared
    notes: list = field(default_factory=list)  # how the inputs or outputs were adapted

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.rows) and all(v.ok for _, _, v in self.rows)

    def lines(self) -> list[str]:
        out = [f"rule: {self.rule} ({self.rule_reason})"] + [f"note: {n}" for n in self.notes]
        for batch, name, v in self.rows:
            out.append(f"[batch {batch}] {v.line(name)}")
        out.extend(self.problems)
        out.append("ok: every output within the rule" if self.ok else "FAIL: outputs differ from the source")
        return out


def random_inputs(types: list[TensorType], batch: int, seed: int = 0) -> list[torch.Tensor]:
    """One seeded random tensor per TensorType; every dynamic dimension becomes `batch`."""
    import torch

    from .ir.dtypes import torch_dtype

    g = torch.Generator().manual_seed(seed * 1000 + batch)
    out = []
    for t in types:
        shape = tuple(batch if d is None else d for d in t.shape)
        dtype = torch_dtype(t.dtype)
        if t.dtype.startswith(("f", "bf")):
            out.append(torch.randn(shape, generator=g).to(dtype))
        else:
            out.append(torch.randint(0, 2, shape, generator=g).to(dtype))
    return out


def flatten_outputs(out: object) -> list:
    """A model's outputs as a flat list of tensors (tuples, lists, dicts and namedtuples unpacked)."""
    import torch

    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [t for v in out.values() for t in flatten_outputs(v)]
    if isinstance(out, (tuple, list)):
        return [t for v in out for t in flatten_outputs(v)]
    if out is None:
        return []
    raise IrcError(f"cannot compare an output of type {type(out).__name__}")


def import_emitted(directory: str) -> ModuleType:
    """The module object of `directory/model.py` (a unique module name per file, so two can be loaded)."""
    path = os.path.join(directory, "model.py")
    finish_pending_writes(path)
    if not os.path.isfile(path):
        raise IrcError(f"{directory}: no model.py here (expected the output directory of irc-emit --target pytorch)")
    name = "irc_emitted_" + hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _emitted_output_names(directory: str):
    """The names forward returns in directory/model.py (the IR's output names, sanitised), or None."""
    import ast

    try:
        with open(os.path.join(directory, "model.py"), encoding="utf-8") as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, ValueError):
        return None
    for cls in reversed(tree.body):  # the model's class is the last one (its blocks' classes come first)
        if isinstance(cls, ast.ClassDef):
            for fn in cls.body:
                if isinstance(fn, ast.FunctionDef) and fn.name == "forward":
                    ret = fn.body[-1]
                    if isinstance(ret, ast.Return) and ret.value is not None:
                        elts = ret.value.elts if isinstance(ret.value, ast.Tuple) else [ret.value]
                        if all(isinstance(e, ast.Name) for e in elts):
                            return [e.id for e in elts]
    return None


def emitted_source_keys(directory: str) -> dict:
    """{emitted state_dict key: source key} for the keys irc-emit renamed (sanitised), from the
    `irc.source_keys` metadata of directory/model.safetensors; empty when none were."""
    import json

    from safetensors import safe_open

    path = os.path.join(directory, "model.safetensors")
    if not os.path.isfile(path):
        return {}
    with safe_open(path, "pt") as f:
        meta = f.metadata() or {}
    return json.loads(meta.get("irc.source_keys", "{}"))


def _same_weights(pairs) -> tuple[bool, str]:
    """pairs: (key, target tensor, source tensor or None). Whether every target weight is the source's."""
    import torch

    changed = [k for k, t, s in pairs if s is None or s.shape != t.shape or s.dtype != t.dtype or not torch.equal(s, t)]
    if not pairs:
        return True, "the target has no weights"
    cl = [k for k, t, s in pairs if s is not None and t.dim() == 4 and not t.is_contiguous() and s.is_contiguous()]
    if not changed and cl:
        return False, (f"{len(cl)} weights are channels-last (irc-emit --channels-last): torch runs other convolution "
                       "kernels, held to the pass rule")
    if not changed:
        return True, f"all {len(pairs)} weights are the source's own, unchanged"
    return False, (f"{len(changed)} of {len(pairs)} weights are new or changed, as after fusion or folding "
                   "passes; --rule exact to demand bit-exactness")


def _first_line(e) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[0][:300] if lines else ""


def as_callable(source: object) -> torch.nn.Module | FileSource:
    """An eval-mode callable module for what load_source returns (a Source holding an nn.Module, a
    ScriptModule or an ExportedProgram) or for a module given directly."""
    import torch

    if hasattr(source, "model") and hasattr(source, "kind"):
        source = source.model
    if isinstance(source, torch.export.ExportedProgram):
        source = source.module()
    try:
        source.eval()
    except (NotImplementedError, RuntimeError):
        pass  # an exported program's module is already in the mode it was exported in
    return source


class FileSource:
    """A framework file as the reference side of a check (irc-check m.onnx --ir m.ir; a .tflite, a Caffe prototxt
    with its weights, ...): run in that framework's runtime (`irc.runtimes`), always held to the pass rule."""

    def __init__(self, kind: str, path: str, weights: str | None = None):
        from .runtimes import open_runtime

        self.kind, self.path, self.weights = kind, path, weights
        self.runtime = open_runtime(kind, path, weights=weights)
        self.names, self.types = self.runtime.output_names, self.runtime.input_types

    def eval(self) -> FileSource:
        return self

    def state_dict(self) -> dict:
        return {}

    def __call__(self, *xs: torch.Tensor) -> list[torch.Tensor]:
        from .runtimes import fit_inputs

        return self.runtime(*fit_inputs(list(xs), self.types))


@dataclass
class Target:
    """What `check` runs against the source: a callable on torch tensors, its output names, inputs for
    a batch size, and (weight key, its tensor, the source's tensor) pairs for choosing the rule."""

    kind: str  # "ir", "emitted", or a runtime's kind ("onnx", "tflite", ...)
    run: object
    names: list
    inputs_for: object  # (batch) -> list of tensors
    pairs: list | None  # None: the weights cannot be compared (a framework file)
    channels_last: bool = False  # the target computes channel-last: outputs are transposed back to compare
    precision: str = "f32"  # "f16": float16 weights or compute (the f16 rule)


def _runtime_target(kind: str, path: str, seed: int, weights: str | None = None) -> Target:
    """A framework file run in its own runtime; inputs in its layout (a torch source that wants them
    channel-first gets them transposed, see `_run_source`)."""
    from .runtimes import fit_inputs, open_runtime

    runtime = open_runtime(kind, path, weights=weights)
    types = runtime.input_types
    return Target(kind, lambda *xs: runtime(*fit_inputs(list(xs), types)), runtime.output_names,
                  lambda batch: random_inputs(types, batch, seed), None, getattr(runtime, "channels_last", False),
                  getattr(runtime, "precision", "f32"))


def _ir_target(ir, src_state: dict, seed: int, allow_outside_weights: bool) -> Target:
    from . import ir as irmod
    from .backend.pytorch.executor import Executor, weight_tensor

    module = irmod.load(ir, allow_outside_weights=allow_outside_weights) if isinstance(ir, str) else ir
    module = flatten(module)
    types = [a.type for a in module.main.args]
    keys = sorted({op.attrs["key"] for op in module.ops() if op.name == "nn.param"})
    pairs = [(k, weight_tensor(module.weights, k), src_state.get(k)) for k in keys]
    return Target("ir", Executor(module), [v.name for v in module.main.outputs],
                  lambda batch: random_inputs(types, batch, seed), pairs)


def _emitted_target(emitted: str, src_state: dict, seed: int) -> Target:
    mod = import_emitted(emitted)
    model = mod.load()
    # keys the emitter had to sanitise are recorded in model.safetensors' metadata
    source_key = emitted_source_keys(emitted)
    pairs = [(k, v, src_state.get(source_key.get(k, k))) for k, v in model.state_dict().items()
             if not k.endswith("num_batches_tracked")]
    return Target("emitted", model, _emitted_output_names(emitted),
                  lambda batch: list(mod.example_inputs(batch, seed)), pairs)


def _choose_rule(source, target: Target, rule: str, rtol, atol) -> tuple[str, str]:
    if target.pairs is None or isinstance(source, FileSource):  # other runtimes: the post-pass rule (DESIGN.md)
        kind = source.kind if isinstance(source, FileSource) else target.kind
        same, reason = False, f"a {kind} model in its own runtime is held to the pass rule"
    else:
        same, reason = _same_weights(target.pairs)
    f16 = "f16" in (target.precision, getattr(getattr(source, "runtime", None), "precision", "f32"))
    if rule == "auto" and f16:
        chosen, reason = "f16", "float16 weights or compute are held to the f16 rule"
    elif rule == "auto":
        chosen = "exact" if same else "pass"
    else:
        chosen, reason = rule, "chosen with --rule"
    if rtol is not None or atol is not None:
        reason += f"; tolerances overridden: rtol={rtol if rtol is not None else 'rule'}, " \
                  f"atol={atol if atol is not None else 'rule'}"
    return chosen, reason


def _run_source(source, inputs, desc: str, result: CheckResult) -> tuple[list, bool]:
    """(the source's outputs on `inputs`, whether they were transposed): a channel-last input a channel-first
    source refuses is transposed for it (a target emitted channels-last from a PyTorch model), and the check
    says so."""
    try:
        return flatten_outputs(source(*inputs)), False
    except Exception as e:  # noqa: BLE001  (a model can raise anything)
        first = e
    from .ir.layout import reorder

    if any(x.dim() >= 3 for x in inputs) and not isinstance(source, FileSource):
        moved = [x.permute(reorder("nhwc", "nchw", x.dim())) if x.dim() >= 3 else x for x in inputs]
        try:
            out = flatten_outputs(source(*moved))
        except Exception:  # noqa: BLE001
            pass
        else:
            note = "the target takes channel-last inputs: the source got them transposed to channel-first"
            if note not in result.notes:
                result.notes.append(note)
            return out, True
    raise IrcError(f"the source model fails on inputs of shape {desc} (the IR's input shapes): "
                   f"{type(first).__name__}: {_first_line(first)}") from None


def _run_batch(source, target: Target, inputs, batch: int, result: CheckResult):
    """(reference outputs, target outputs), or None after recording why the target failed."""
    import torch

    from .runtimes import match_layout

    desc = ", ".join("x".join(str(d) for d in tuple(x.shape)) for x in inputs)
    with torch.no_grad():
        ref, transposed = _run_source(source, inputs, desc, result)
        try:
            out = flatten_outputs(target.run(*inputs))
        except Exception as e:  # noqa: BLE001
            result.problems.append(f"[batch {batch}] FAIL: the {target.kind} fails on inputs of shape {desc}: "
                                   f"{type(e).__name__}: {_first_line(e)}")
            return None
    if len(ref) != len(out):
        result.problems.append(f"[batch {batch}] FAIL: the source gives {len(ref)} outputs, the target {len(out)}")
        return None
    # a channel-last target of a channel-first source: outputs come back transposed even where the shape cannot
    # tell ([1, 8, 8, 8]); otherwise only where the shapes differ
    return ref, [match_layout(r, o, target.channels_last and transposed) for r, o in zip(ref, out)]


def _target(source, ir, emitted, runtime, seed: int, allow_outside_weights: bool, weights: str | None) -> Target:
    src_state = dict(source.state_dict().items())
    if runtime is not None:
        return _runtime_target(runtime[0], runtime[1], seed, weights)
    if ir is not None:
        return _ir_target(ir, src_state, seed, allow_outside_weights)
    return _emitted_target(emitted, src_state, seed)


def check(source: object, *, ir: str | Module | None = None, emitted: str | None = None, onnx: str | None = None,
          runtime: tuple[str, str] | None = None, rule: str = "auto", rtol: float | None = None,
          atol: float | None = None, seed: int = 0, batches: Iterable[int] = BATCHES,
          allow_outside_weights: bool = False, weights: str | None = None) -> CheckResult:
    """Compare `source` (an nn.Module, what load_source returns, or a FileSource) with exactly one target: `ir`
    (path or Module), `emitted` (a directory written by emit_pytorch), or a framework file in its own runtime:
    `runtime=(kind, path)` with a kind of `irc.runtimes.RUNTIMES` (`onnx=path` is `runtime=("onnx", path)`;
    `weights`: a Caffe target's caffemodel when `path` is a prototxt)."""
    if onnx is not None and runtime is not None:
        raise IrcError("give at most one framework file to check")
    runtime = ("onnx", onnx) if onnx is not None else runtime
    if sum(x is not None for x in (ir, emitted, runtime)) != 1:
        raise IrcError("give exactly one target to check: --ir, --emitted, or one framework file (--onnx, ...)")
    if rule not in ("auto", "exact", "pass", "f16"):
        raise IrcError(f"unknown rule '{rule}' (auto, exact, pass or f16)")
    source = as_callable(source)
    target = _target(source, ir, emitted, runtime, seed, allow_outside_weights, weights)
    chosen, reason = _choose_rule(source, target, rule, rtol, atol)
    result = CheckResult(target.kind, chosen, reason)
    seen_shapes = set()
    for batch in batches:
        inputs = target.inputs_for(batch)
        shapes = tuple(tuple(x.shape) for x in inputs)
        if shapes in seen_shapes:
            continue  # a static batch: one size is all there is
        seen_shapes.add(shapes)
        outputs = _run_batch(source, target, inputs, batch, result)
        if outputs is None:
            continue
        for i, (r, o) in enumerate(zip(*outputs)):
            name = target.names[i] if target.names and i < len(target.names) else f"output{i}"
            result.rows.append((batch, name, compare(r, o, chosen, rtol=rtol, atol=atol)))
    return result


class _CallableModule(type(os)):
    """`irc.check` is both this module and its `check` function: once the module is imported, Python
    binds the package attribute `irc.check` to the module, so the module itself forwards calls."""

    def __call__(self, *args, **kwargs):
        return check(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = [
    "CheckResult",
    "FileSource",
    "Verdict",
    "check",
    "emitted_source_keys",
    "flatten_outputs",
    "import_emitted",
    "random_inputs",
]
