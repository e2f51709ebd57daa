"""`irc-check --bisect`: name the first op whose output goes wrong.

The source (or a reference IR) and the converted model run on the same seeded inputs (`irc.check.random_inputs`
at batch 1); every IR value that has a counterpart on both sides is compared with `irc.fidelity.compare` under
the rule `irc-check` would pick, and the first op whose output leaves the tolerance while its compared inputs
were inside it is blamed, with its IR line and the source line it came from.

The runtime interface
---------------------
A runtime is anything with

    run_named(inputs: list[torch.Tensor], want: set[str] | None) -> Iterator[tuple[str, torch.Tensor]]

that runs the model once on `inputs` (one tensor per forward argument, in the IR's layout) and yields
`(IR value name, tensor)` pairs as it computes them, in execution order. `want`, when given, is the set of
names the caller will look at: a runtime may skip the others (never required to). A value the runtime has no
counterpart for (folded into a constant, fused into another op, computed inside a kernel) is simply not
yielded; the table says so. Callers run it under `torch.no_grad()` and consume the iterator to the end.
A backend gets bisection by implementing this one method (Keras, TFLite, Caffe, ncnn: run the converted model
with its intermediates exposed, translate the runtime's tensor names back to the IR names the backend gave
them, and convert to NCHW torch tensors when the backend changed the layout). Implementations here:

- `IrRuntime(module)`: the torch executor, compiled with `capture=True` (each op's results yielded as computed);
- `TorchSourceRuntime(model, input_types)`: the source nn.Module, exported and imported afresh with the
  importer recording which fx node became which IR value, run node by node with a `torch.fx.Interpreter`;
- the framework runtimes of `irc.runtimes` (onnxruntime, LiteRT, OpenCV, ncnn, Keras), each a class with
  this method, given the inputs fitted to its layout (`irc.runtimes.fit_inputs`); a channel-last value is
  compared with a channel-first one after a transpose (`irc.runtimes.match_layout`);
- `EmittedRuntime(directory, module)`: the emitted model.py's `forward`, its locals read line by line.

Memory: the reference side is run first and its values kept (the one extra copy of the activations); the
other side is then streamed and each value compared and dropped as it arrives (onnxruntime returns all of its
outputs at once, so `--onnx` holds a second copy).
"""

from __future__ import annotations

import os
import queue
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from .emitted_trace import EmittedRuntime, emitted_locals
from .fidelity import Verdict, compare
from .ir import IrcError, Module
from .ir.core import file_locs
from .ir.structure import flatten
from .runtimes import match_layout

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import torch

    from .ir import TensorType
    from .ir.core import Op

CONTEXT = 5  # rows shown before and after the culprit


class Runtime(Protocol):
    """Runs a model and hands back its named intermediates (see the module docstring)."""

    def run_named(self, inputs: list[torch.Tensor],
                  want: set[str] | None = None) -> Iterator[tuple[str, torch.Tensor]]: ...


# ----------------------------------------------------------------------------- runtimes


class IrRuntime:
    """The IR run by the torch executor, every op's results yielded as they are computed."""

    def __init__(self, module: Module):
        import torch
        import torch.nn.functional as F

        from .backend.pytorch.executor import compile_func, weight_tensor

        source, keys, constants = compile_func(module, capture=True)
        self.params = [weight_tensor(module.weights, k) for k in keys]
        namespace = {"torch": torch, "F": F}
        exec(compile(source, f"<irc bisect {module.name}>", "exec"), namespace)
        self._run = namespace["run"]
        self.constants = [eval(compile(e, f"<irc constant {module.name}>", "eval"), namespace) for e in constants]

    def run_named(self, inputs: list[torch.Tensor],
                  want: set[str] | None = None) -> Iterator[tuple[str, torch.Tensor]]:
        for name, tensor in self._run(self.params, self.constants, *inputs):
            if want is None or name in want:
                yield name, tensor


class TorchSourceRuntime:
    """The source nn.Module (or ExportedProgram): exported and decomposed as `import_model` does, imported
    once more to learn which fx node became which IR value (the names of a fresh import are the saved IR's
    names for every op nobody edited), then run with a torch.fx.Interpreter that keeps those nodes' outputs."""

    def __init__(self, model: object, input_types: list[TensorType], batch: int = 1):
        from .frontend.torch import TorchImporter, decompose, exported_program, quiet_torch

        shapes = [(tuple(t.shape[1:]), t.dtype) for t in input_types]
        ep, root, name = exported_program(model, shapes, batch, None, lambda msg: None, lambda msg: None, None)
        self.program = decompose(ep)
        importer = TorchImporter(self.program, root, "bisect", None, lambda msg: None)
        importer.node_values = {}
        with quiet_torch():
            importer.run()
        self.names = {node: value.name for node, value in importer.node_values.items()}
        self.weight_keys = set(self.program.state_dict) | set(getattr(self.program, "constants", {}) or {})

    def _graph_args(self, inputs: list[torch.Tensor]) -> list:
        user = iter(inputs)
        consts = getattr(self.program, "constants", {}) or {}
        args = []
        for spec in self.program.graph_signature.input_specs:
            if spec.kind.name == "USER_INPUT":
                args.append(next(user))
            elif spec.target in self.program.state_dict:
                args.append(self.program.state_dict[spec.target])
            else:
                args.append(consts[spec.target])
        return args

    def run_named(self, inputs: list[torch.Tensor],
                  want: set[str] | None = None) -> Iterator[tuple[str, torch.Tensor]]:
        import torch.fx

        names = self.names

        def produce(emit: Callable[[str, torch.Tensor], None]) -> None:
            class Capture(torch.fx.Interpreter):
                def run_node(self, node: torch.fx.Node) -> object:
                    out = super().run_node(node)
                    name = names.get(node.name)
                    if name is not None and (want is None or name in want) and isinstance(out, torch.Tensor):
                        emit(name, out)
                    return out

            Capture(self.program.graph_module).run(*self._graph_args(inputs))

        return stream(produce)


def stream(produce: Callable[[Callable[[str, torch.Tensor], None]], None]) -> Iterator[tuple[str, torch.Tensor]]:
    """An iterator over what `produce(emit)` emits, handed over one at a time: `produce` runs in a thread that
    waits until each value is consumed, so a runtime that reports through a callback holds no extra copies."""
    import torch

    slot: queue.Queue = queue.Queue(maxsize=1)
    done = object()

    def worker() -> None:
        try:
            with torch.no_grad():
                produce(lambda name, tensor: slot.put((name, tensor)))
            slot.put(done)
        except BaseException as e:  # noqa: BLE001  (re-raised in the consumer)
            slot.put(e)

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    while True:
        item = slot.get()
        if item is done:
            break
        if isinstance(item, BaseException):
            raise item
        yield item
    thread.join()


# ----------------------------------------------------------------------------- comparison and blame


@dataclass
class Row:
    name: str
    op: Op
    verdict: Verdict | None  # None: no counterpart on one side
    tainted: bool = False  # no counterpart, computed from a value that diverged


@dataclass
class BisectResult:
    ir_path: str | None
    rule: str
    rule_reason: str
    rows: list[Row] = field(default_factory=list)
    culprit: Row | None = None

    @property
    def compared(self) -> int:
        return sum(r.verdict is not None for r in self.rows)

    def where(self, row: Row, short: bool = True) -> tuple[str, str]:
        """(`m.ir:LINE`, `source.py:LINE`) of a row's op ("-" when unknown)."""
        path = self.ir_path or "<ir>"
        ir_line = f"{os.path.basename(path) if short else path}:{row.op.pos[0]}" if row.op.pos else "-"
        locs = file_locs(row.op.loc)
        src = f"{os.path.basename(locs[0].file) if short else locs[0].file}:{locs[0].line}" if locs else "-"
        return ir_line, src

    def table(self, every: bool = False) -> list[str]:
        rows = self.rows
        if not every and self.culprit is not None:
            at = rows.index(self.culprit)
            rows = rows[max(0, at - CONTEXT): at + CONTEXT + 1]
        elif not every:
            rows = []
        out = [f"{'IR value':<32} {'op':<16} {'IR line':<18} {'source':<24} {'max|d|':>9} {'rel':>9} "
               f"{'cos':>10}  status"] if rows else []
        for row in rows:
            ir_line, src = self.where(row)
            head = f"{row.name[:32]:<32} {row.op.name.removeprefix('nn.')[:16]:<16} {ir_line:<18} {src[:24]:<24}"
            v = row.verdict
            if v is None:
                note = "skipped: no counterpart (folded or fused)" + (", inputs diverged" if row.tainted else "")
                out.append(f"{head} {'-':>9} {'-':>9} {'-':>10}  {note}")
                continue
            state = "ok" if v.ok else ("FIRST DIVERGENCE" if row is self.culprit else "diverged")
            out.append(f"{head} {v.max_abs:>9.3g} {v.max_rel_scale:>9.3g} {v.cosine:>10.7f}  {state}")
        return out

    def lines(self, every: bool = False) -> list[str]:
        out = [f"rule: {self.rule} ({self.rule_reason})"] + self.table(every)
        skipped = len(self.rows) - self.compared
        out.append(f"{self.compared} values compared, {skipped} without a counterpart (folded or fused)")
        if self.culprit is None:
            out.append("no divergence: every compared value is within the rule")
            return out
        ir_line, src = self.where(self.culprit, short=False)
        op = self.culprit.op
        out.append(f"first divergence: %{self.culprit.name} = {op.name} at {ir_line}"
                   + (f", from {src}" if src != "-" else "") + " (its compared inputs were within the rule)")
        return out


def compare_stream(module: Module, reference: dict, produced: Iterator[tuple[str, torch.Tensor]], rule: str,
                   want: set[str], rtol: float | None = None, atol: float | None = None) -> list[Row]:
    """One row per result of every computing op of `module` (in order): its verdict against `reference`
    (popped as it is used, so the reference copy shrinks as the comparison goes) when its name is in `want`,
    else None."""
    verdicts: dict[str, Verdict] = {}
    for name, tensor in produced:
        ref = reference.pop(name, None) if name in want else None
        if ref is not None:
            verdicts[name] = compare(ref, match_layout(ref, tensor), rule, rtol=rtol, atol=atol)
        del tensor, ref
    return [Row(r.name, op, verdicts.get(r.name)) for op in module.main.ops if op.operands for r in op.results]


def blame(rows: list[Row]) -> Row | None:
    """The first row that diverges while none of its op's inputs diverged (nor any value without a
    counterpart computed from one that did)."""
    bad: set[str] = set()
    culprit = None
    for row in rows:
        inputs_bad = any(v.name in bad for v in row.op.operands)
        if row.verdict is None:
            if inputs_bad:
                row.tainted = True
                bad.add(row.name)
        elif not row.verdict.ok:
            if culprit is None and not inputs_bad:
                culprit = row
            bad.add(row.name)
    return culprit


def fused_names(module: Module, known_keys: set[str] | None = None) -> set[str]:
    """Results of ops a pass made from several: their name is the first op's, their value the last one's, so
    the reference's value of that name is no counterpart. Told by a fused location (two source lines) or, when
    the reference's weight keys are `known_keys`, by a weight the reference does not have (fuse-bn's bias)."""
    out = set()
    for op in module.ops():
        new = known_keys is not None and any(
            v.owner is not None and v.owner.name == "nn.param" and v.owner.attrs["key"] not in known_keys
            for v in op.operands)
        if new or len(file_locs(op.loc)) > 1:
            out.update(r.name for r in op.results)
    return out


def run_bisect(module: Module, reference: Runtime, target: Runtime, rule: str, rule_reason: str,
               rtol: float | None = None, atol: float | None = None, seed: int = 0,
               skip: set[str] | None = None) -> BisectResult:
    """Run `reference` and keep what it names, then stream `target` against it; blame the first op.
    `skip`: names with no counterpart whatever the runtimes yield (default: `fused_names(module)`)."""
    import torch

    from .check import random_inputs

    module = flatten(module)
    inputs = random_inputs([a.type for a in module.main.args], 1, seed)
    skip = fused_names(module) if skip is None else skip
    want = {r.name for op in module.main.ops if op.operands for r in op.results} - skip
    with torch.no_grad():
        kept = dict(reference.run_named(inputs, want))
        rows = compare_stream(module, kept, target.run_named(inputs, want), rule, want, rtol, atol)
    result = BisectResult(module.path, rule, rule_reason, rows)
    result.culprit = blame(rows)
    return result


# ----------------------------------------------------------------------------- the entry point


def _load(ir: str | Module, allow_outside_weights: bool) -> Module:
    from . import ir as irmod

    return irmod.load(ir, allow_outside_weights=allow_outside_weights) if isinstance(ir, str) else ir


def _source_side(source: object, module: Module) -> Runtime:
    from .check import FileSource
    from .runtimes import open_runtime, source_names

    if isinstance(source, str):
        source = FileSource("onnx", source)
    if isinstance(source, FileSource):
        names = source_names(source.kind, source.path, source.weights)
        return _Fitted(open_runtime(source.kind, source.path, names=names, weights=source.weights))
    model = source.model if hasattr(source, "model") and hasattr(source, "kind") else source
    if hasattr(model, "eval") and not hasattr(model, "graph_signature"):
        model.eval()
    return TorchSourceRuntime(model, [a.type for a in module.main.args])


class _Fitted:
    """A framework runtime given inputs fitted to its layout (`irc.runtimes.fit_inputs`); with `module` (the IR
    it was emitted from), each value it yields comes back in the layout of that IR's value of the same name."""

    def __init__(self, runtime: object, module: Module | None = None):
        self.runtime = runtime
        self.shapes = {} if module is None else {v.name: v.type.shape for v in module.main.values()}
        self.channel_first = module is not None and any(op.attrs.get("layout") == "nchw" for op in module.ops())

    def run_named(self, inputs: list[torch.Tensor],
                  want: set[str] | None = None) -> Iterator[tuple[str, torch.Tensor]]:
        from .runtimes import fit_inputs

        # the runtime computes channel-last what the IR computes channel-first (it was made from a channel-first
        # IR): values come back transposed even where the shape cannot tell ([1, 8, 8, 8])
        channels_last = getattr(self.runtime, "channels_last", False) and self.channel_first
        for name, tensor in self.runtime.run_named(fit_inputs(list(inputs), self.runtime.input_types), want):
            shape = self.shapes.get(name)
            yield name, (tensor if shape is None or None in shape else match_layout(shape, tensor, channels_last))


def _rule(source: object, module: Module, emitted: str | None, runtime: tuple[str, str] | None, rule: str,
          rtol: float | None, atol: float | None, allow_outside_weights: bool,
          weights: str | None) -> tuple[str, str]:
    from . import check as chk

    callable_source = chk.FileSource("onnx", source) if isinstance(source, str) else chk.as_callable(source)
    src_state = dict(callable_source.state_dict().items())
    if runtime is not None:
        target = chk._runtime_target(runtime[0], runtime[1], 0, weights)
    elif emitted is not None:
        target = chk._emitted_target(emitted, src_state, 0)
    else:
        target = chk._ir_target(module, src_state, 0, allow_outside_weights)
    return chk._choose_rule(callable_source, target, rule, rtol, atol)


def _ir_pair_rule(before: Module, after: Module, rule: str) -> tuple[str, str]:
    from .backend.pytorch.executor import weight_tensor
    from .check import _same_weights

    old = set(before.weights.keys())
    pairs = [(k, weight_tensor(after.weights, k), weight_tensor(before.weights, k) if k in old else None)
             for k in sorted({op.attrs["key"] for op in flatten(after).ops() if op.name == "nn.param"})]
    same, reason = _same_weights(pairs)
    if rule != "auto":
        return rule, "chosen with --rule"
    return ("exact" if same else "pass"), reason.replace("source's", "first IR's")


def bisect(source: object = None, *, ir: str | Module | None = None, emitted: str | None = None,
           onnx: str | None = None, runtime: tuple[str, str] | None = None, against: str | Module | None = None,
           rule: str = "auto", rtol: float | None = None, atol: float | None = None, seed: int = 0,
           allow_outside_weights: bool = False, weights: str | None = None) -> BisectResult:
    """Find the first op where a converted model leaves the source.

    `source` (an nn.Module, what load_source returns, an ONNX path or a FileSource) against `ir`, or against
    `emitted` / a framework file `runtime=(kind, path)` (`onnx=path` is ("onnx", path)) with `ir` the IR they were
    emitted from (its op order, lines and locations make the table); or, with no source, `ir` (before) against
    `against` (after), values matched by name."""
    if rule not in ("auto", "exact", "pass", "f16"):
        raise IrcError(f"unknown rule '{rule}' (auto, exact, pass or f16)")
    if ir is None:
        raise IrcError("--bisect needs --ir M.IR (with --emitted or a framework file: the IR they were emitted from)")
    structured = _load(ir, allow_outside_weights)
    module = flatten(structured)  # the table is the inlined IR's: every instance of a block has its rows
    if onnx is not None:
        if runtime is not None:
            raise IrcError("give at most one framework file to bisect")
        runtime = ("onnx", onnx)
    if against is not None:
        if source is not None or emitted is not None or runtime is not None:
            raise IrcError("--against compares two IR files: give no SOURCE, --emitted or --onnx with it")
        after = flatten(_load(against, allow_outside_weights))
        chosen, reason = _ir_pair_rule(module, after, rule)
        skip = fused_names(after, set(module.weights.keys())) - fused_names(module)
        return run_bisect(after, IrRuntime(module), IrRuntime(after), chosen, reason, rtol, atol, seed, skip)
    if source is None:
        raise IrcError("give SOURCE to bisect against (or --against AFTER.IR to compare two IR files)")
    if emitted is not None and runtime is not None:
        raise IrcError("give at most one of --emitted and a framework file")
    chosen, reason = _rule(source, module, emitted, runtime, rule, rtol, atol, allow_outside_weights, weights)
    if runtime is not None:
        from .runtimes import open_runtime

        target = _Fitted(open_runtime(runtime[0], runtime[1], module=module, weights=weights), module)
    elif emitted is not None:
        target = EmittedRuntime(emitted, structured)  # its forward has the blocks' calls
    else:
        target = IrRuntime(module)
    reference = _source_side(source, module)
    known = getattr(reference, "weight_keys", None)
    return run_bisect(module, reference, target, chosen, reason, rtol, atol, seed, fused_names(module, known))


__all__ = ["BisectResult", "EmittedRuntime", "IrRuntime", "Row", "Runtime", "TorchSourceRuntime", "bisect", "blame",
           "compare_stream", "emitted_locals", "run_bisect", "stream"]
