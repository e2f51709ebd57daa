"""torch.export of the user's model: a private copy in eval mode, example inputs, dynamic shapes, torch's
own noise kept quiet, and the decomposition to the ATen ops the importers know.

`torch.export.export(copy, args, strict=False)` gives an ATen graph. `decompose` imports it as it is when
irc knows every op in it (decomposition.py: in-place updates made out-of-place where safe); otherwise
`run_decompositions({})` keeps whole the ops irc knows (conv2d, linear, batch norm, hardswish, pooling,
cat, ...) and the ops irc has no importer for are decomposed to core ATen where torch has a
decomposition; whatever is left is reported, all at once, by the importer.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import logging
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from ...ir import IrcError
from ...ir.core import sanitize_name as sanitize
from ...ir.dtypes import TABLE, torch_dtype
from .custom import patch_kept
from .decomposition import decompose_unknown, known_as_exported
from .recurrent import patch_recurrent


def _example_inputs(input_types, batch, device=None):
    """Seeded example inputs; on `device` (the meta device, for a model whose weights are still in a checkpoint)."""
    if device is not None:
        return tuple(t.to(device) for t in _example_inputs(input_types, batch))
    g = torch.Generator().manual_seed(0)
    out = []
    for shape, dtype in input_types:
        if dtype not in TABLE:
            raise IrcError(f"unknown input dtype '{dtype}' (known: {' '.join(TABLE)})")
        tdt = torch_dtype(dtype)
        full = (batch,) + tuple(int(d) for d in shape)
        if tdt.is_floating_point:
            out.append(torch.randn(full, generator=g).to(tdt))
        elif tdt == torch.bool:
            out.append(torch.zeros(full, dtype=tdt))
        else:
            out.append(torch.randint(0, 2, full, generator=g).to(tdt))
    return tuple(out)


def _short_reason(error: Exception) -> str:
    """The first lines of an exception from torch, without its advice on logging."""
    text = str(error).strip().split("\n")
    lines = [ln.strip() for ln in text if ln.strip()]
    short = re.sub(r' ?For more information, run with TORCH_LOGS="[^"]*"\.?', "", " ".join(lines[:3]))
    short = short.split(" Suggested fixes:")[0]
    return short[:400] or type(error).__name__


def _copy_module(model):
    """A deep copy of `model` that shares its parameter and buffer tensors.

    torch.export only reads them (through fake tensors), so copying them would only double the
    memory a large model needs; everything else (submodules, attributes, flags) is copied."""
    memo = {id(t): t for t in model.parameters()}
    memo.update((id(t), t) for t in model.buffers())
    return copy.deepcopy(model, memo)


def _dims_of(entry: object) -> dict:
    """One input's dynamic dims as {per-sample dim: name or None}: from a list of dims or such a dict."""
    if isinstance(entry, dict):
        return dict(entry)
    return {k: None for k in entry or ()}


def _dynamic_specs(input_types, batch_dynamic, dynamic_dims, tie=False):
    """torch.export dynamic_shapes for the inputs: dim 0 when the batch is dynamic, and the per-sample
    dims listed in `dynamic_dims` (one entry per input: a list of dims, or {dim: name}) as Dim.AUTO: export
    works out their ranges and which of them are equal from the model (a conv stack's width must be at least
    its total stride, say). With `tie`, a named dim is one torch.export.Dim wherever its name appears."""
    if dynamic_dims is not None and len(dynamic_dims) != len(input_types):
        raise IrcError(f"dynamic_dims has {len(dynamic_dims)} entries for {len(input_types)} inputs: give one "
                       "list of per-sample dims per input ([] for an input without dynamic dims)")
    batch_dim = torch.export.Dim("batch", min=1) if batch_dynamic else None
    named: dict = {}
    specs, any_dynamic = [], batch_dynamic
    for i, (shape, _) in enumerate(input_types):
        spec = {0: batch_dim} if batch_dynamic else {}
        for k, name in _dims_of((dynamic_dims or [None] * len(input_types))[i]).items():
            if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < len(shape):
                raise IrcError(f"dynamic_dims of input {i}: {k!r} is not a dimension of its per-sample shape "
                               f"{tuple(shape)} (0 to {len(shape) - 1}; the batch is made dynamic by batch='dynamic')")
            if int(shape[k]) < 2:
                raise IrcError(f"dynamic_dims of input {i}: the example size of dim {k} must be at least 2 "
                               f"(torch.export specialises sizes 0 and 1), got {shape[k]}")
            if tie and name is not None and name not in named:
                named[name] = torch.export.Dim(sanitize(name))
            spec[k + 1] = named[name] if tie and name is not None else torch.export.Dim.AUTO
            any_dynamic = True
        specs.append(spec)
    return tuple(specs), any_dynamic


def _user_fakes(ep) -> list:
    """The fake tensors of the graph's user inputs, in order."""
    users = {spec.arg.name for spec in ep.graph_signature.input_specs
             if spec.kind.name == "USER_INPUT" and hasattr(spec.arg, "name")}
    return [n.meta.get("val") for n in ep.graph.nodes if n.op == "placeholder" and n.name in users]


def _check_dynamic(ep, dynamic_dims, warn):
    """Warn about each requested dynamic dim that export made static (the model needs that one size)."""
    fakes = _user_fakes(ep)
    for i, dims in enumerate(dynamic_dims or ()):
        val = fakes[i] if i < len(fakes) else None
        for k in dims or ():
            if val is not None and isinstance(val.shape[k + 1], int):
                warn(f"dimension {k} of input {i} stays static ({val.shape[k + 1]}): torch.export found the model "
                     "needs that size")


def _untied(ep, dynamic_dims) -> list[str]:
    """The dim names whose dims export made different sizes."""
    fakes = _user_fakes(ep)
    seen: dict = {}
    for i, dims in enumerate(dynamic_dims or ()):
        for k, name in _dims_of(dims).items():
            if name is not None and i < len(fakes):
                seen.setdefault(name, set()).add(str(fakes[i].shape[k + 1]))
    return [name for name, sizes in seen.items() if len(sizes) > 1]


def _export_copy(model, keep=None, warn=None):
    try:
        root = _copy_module(model)
    except Exception as e:
        raise IrcError(f"cannot copy the model for export (irc never exports the user's own object): "
                       f"{_short_reason(e)}") from None
    root.eval()
    if keep:
        patch_kept(root, list(keep), warn)  # one opaque op per instance of a kept class
    patch_recurrent(root)  # one op per nn.LSTM/GRU/RNN whose shapes follow a dynamic sequence length
    return root


def _check_batch(batch: object) -> int:
    try:
        batch = int(batch)
    except (TypeError, ValueError):
        raise IrcError(f"batch must be a positive integer or 'dynamic', got {batch!r}") from None
    if batch < 1:
        raise IrcError(f"batch must be a positive integer or 'dynamic', got {batch}")
    return batch


def _export_tied(root, example, specs):
    """torch.export with named dims tied; a range the model narrows is taken from torch's suggested fixes."""
    try:
        return torch.export.export(root, example, dynamic_shapes=specs, strict=False)
    except Exception as e:
        if "Suggested fixes" not in str(e):
            raise
        from torch.export.dynamic_shapes import refine_dynamic_shapes_from_suggested_fixes

        fixes = str(e).split("\n\n")[0]  # torch's parser reads the fixes up to the advice after them
        specs = refine_dynamic_shapes_from_suggested_fixes(fixes, specs)
        return torch.export.export(root, example, dynamic_shapes=specs, strict=False)


def _export_dynamic(root, example, input_types, dynamic, dynamic_dims, warn):
    """torch.export with dynamic shapes: every dim Dim.AUTO; when dims of one name come out as different sizes,
    once more with them tied (one torch.export.Dim per name), or a warning that they stay apart."""
    specs, _ = _dynamic_specs(input_types, dynamic, dynamic_dims)
    ep = torch.export.export(root, example, dynamic_shapes=specs, strict=False)
    untied = _untied(ep, dynamic_dims)
    if untied:
        try:
            ep = _export_tied(root, example, _dynamic_specs(input_types, dynamic, dynamic_dims, tie=True)[0])
        except Exception as e:
            warn(f"the dims named {', '.join(untied)} stay independent sizes: torch.export cannot make each name "
                 f"one size: {_short_reason(e)}")
    _check_dynamic(ep, dynamic_dims, warn)
    return ep


def export(model: torch.nn.Module, input_types: list, batch: int | str, warn: Callable[[str], None],
           dynamic_dims: list | None = None,
           keep: list[str] | None = None) -> tuple[torch.export.ExportedProgram, torch.nn.Module]:
    """torch.export a deep copy of `model` in eval mode (the instances of the `keep` classes made opaque);
    returns (ExportedProgram, the copy)."""
    root = _export_copy(model, keep, warn)
    dynamic = batch == "dynamic"
    if not dynamic:
        batch = _check_batch(batch)
    _, any_dynamic = _dynamic_specs(input_types, dynamic, dynamic_dims)  # checks them, before any export
    device = "meta" if any(t.is_meta for t in itertools.chain(model.parameters(), model.buffers())) else None
    with torch.no_grad():
        if any_dynamic:
            what = "a dynamic batch" if not dynamic_dims or not any(dynamic_dims) else "dynamic dimensions"
            try:
                example = _example_inputs(input_types, 2 if dynamic else batch, device)
                return _export_dynamic(root, example, input_types, dynamic, dynamic_dims, warn), root
            except Exception as e:
                fallback = "batch 1" if dynamic else "static shapes"
                warn(f"export with {what} failed, importing with {fallback} instead: {_short_reason(e)}")
                root = _export_copy(model, keep, lambda msg: None)
                batch = 1 if dynamic else batch
        try:
            ep = torch.export.export(root, _example_inputs(input_types, batch, device), strict=False)
        except Exception as e:
            raise IrcError(f"torch.export failed: {type(e).__name__}: {_short_reason(e)}") from None
    return ep, root


def script_to_module(model: torch.jit.ScriptModule, input_types: list, batch: int | str = 1) -> torch.nn.Module:
    """A TorchScript module → an equivalent fx GraphModule, through torch's TorchScript converter."""
    try:
        from torch._export.converter import TS2EPConverter
    except ImportError:
        raise IrcError("this torch has no TorchScript converter; torch.export cannot export a ScriptModule. "
                       "Import the original nn.Module (or its state_dict with --arch) instead") from None
    try:
        with torch.no_grad():
            n = 2 if batch == "dynamic" else int(batch)
            return TS2EPConverter(model, _example_inputs(input_types, n)).convert().module()
    except Exception as e:
        raise IrcError(f"torch.export cannot export this TorchScript model: {type(e).__name__}: {_short_reason(e)}. "
                       "Import the original nn.Module (or its state_dict with --arch) instead") from None


def exported_program(model: object, input_types: list | None, batch: int | str, name: str | None,
                     progress: Callable[[str], None], warn: Callable[[str], None], dynamic_dims: list | None,
                     keep: list[str] | None = None) -> tuple[torch.export.ExportedProgram, torch.nn.Module | None, str]:
    """The ExportedProgram of `model` (an nn.Module, a ScriptModule or an ExportedProgram already), the
    exported copy (None for an ExportedProgram given) and the model's name."""
    if isinstance(model, torch.export.ExportedProgram):
        if keep:
            raise IrcError("--keep-module needs the model's nn.Module: an exported program has no modules to keep")
        return model, None, name or "model"
    if not isinstance(model, torch.nn.Module):
        raise IrcError(f"cannot import a {type(model).__name__}: expected a torch.nn.Module or an ExportedProgram")
    if not input_types:
        raise IrcError("give the input shapes (--shape C,H,W once per input)")
    progress("exporting with torch.export")
    with quiet_torch(), full_stack_traces():
        if isinstance(model, torch.jit.ScriptModule):
            name = name or getattr(model, "original_name", "") or "model"
            model = script_to_module(model, input_types, batch)
        else:
            name = name or type(model).__name__
        ep, root = export(model, input_types, batch, warn, dynamic_dims, keep)
    return ep, root, name


@contextlib.contextmanager
def full_stack_traces() -> Iterator[None]:
    """Let export record every frame from the first `forward` on, not only frames named `forward`, so a
    location points at `x = self.conv1(x)` inside a helper such as ResNet's `_forward_impl` rather than
    at the call of the helper. Uses a private torch hook; without it, locations are just coarser."""
    try:
        from torch.fx.proxy import TracerBase

        orig = TracerBase.__dict__["_filter_traceback_frames"]
    except (ImportError, KeyError):
        yield
        return

    def keep_all(self, summary):
        saved = getattr(self, "_record_forward_stack_traces_only", False)
        self._record_forward_stack_traces_only = False
        try:
            return orig(self, summary)
        finally:
            self._record_forward_stack_traces_only = saved

    TracerBase._filter_traceback_frames = keep_all
    try:
        yield
    finally:
        TracerBase._filter_traceback_frames = orig


@contextlib.contextmanager
def quiet_torch() -> Iterator[None]:
    """Keep torch.export's own warnings and log lines off the user's terminal."""
    loggers = [logging.getLogger(n) for n in ("torch._export", "torch.export", "torch._dynamo", "torch.fx",
                                               "torch._subclasses", "torch.fx.experimental.symbolic_shapes",
                                               "torch.export.pt2_archive._package")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for lg, lv in zip(loggers, levels, strict=True):
                lg.setLevel(lv)


# ----------------------------------------------------------------------------- decomposition of the rest


def decompose(ep: torch.export.ExportedProgram) -> torch.export.ExportedProgram:
    """The exported graph as it is when irc imports all its ops (in-place updates made out-of-place where
    nothing reads the old value); else `run_decompositions({})` (keeps whole the ops irc knows), then
    `decompose_unknown`."""
    try:
        with quiet_torch():
            known = known_as_exported(ep)
            if known is not None:
                return known
            ep = ep.run_decompositions({})
            return decompose_unknown(ep)
    except Exception as e:
        raise IrcError(f"torch.export could not decompose the model: {_short_reason(e)}") from None


# ----------------------------------------------------------------------------- inputs from the command line

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass
class InputPlan:
    """What `--input`/`--shape`/`--dtype`/`--batch`/`--dynamic` ask for, in import_model's terms."""

    input_types: list  # [(per-sample shape, dtype)]
    names: list | None  # the IR's argument names (None: forward's own)
    batch: int | str  # an int or "dynamic"
    dynamic_dims: list | None  # per input: {per-sample dim: name or None}


def parse_input(text: str) -> tuple[str, tuple, str]:
    """`NAME:DIMS[:DTYPE]` (`x:3,224,224:f32`, `mask:128:i64`, `t::f32` for a per-sample scalar) →
    (name, per-sample shape, dtype); the dtype defaults to f32."""
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise IrcError(f"--input '{text}': expected NAME:DIMS[:DTYPE], e.g. x:3,224,224:f32 or mask:128:i64")
    name, dims, dtype = parts[0], parts[1], parts[2] if len(parts) == 3 else "f32"
    if not _NAME.match(name):
        raise IrcError(f"--input '{text}': the name '{name}' is not an identifier (letters, digits, _)")
    shape = []
    for d in (d.strip() for d in dims.replace("x", ",").split(",")):
        if d and not (d.isascii() and d.isdigit() and int(d) > 0):
            raise IrcError(f"--input '{text}': dimension '{d}' is not a positive integer")
        shape += [int(d)] if d else []
    if dtype not in TABLE:
        raise IrcError(f"--input '{text}': unknown element type '{dtype}' (known: {' '.join(TABLE)})")
    return name, tuple(shape), dtype


def _dynamic_item(item: str, names: list, input_types: list, dims: list) -> None:
    """One `INPUT.DIM[=NAME]` of --dynamic into `dims` (per input: {dim: name})."""
    target, _, sym = item.partition("=")
    where, dot, index = target.rpartition(".")
    usage = f"--dynamic '{item}': expected 'batch' or INPUT.DIM[=NAME] (INPUT a name or position, DIM per sample)"
    if not dot or not where or not re.fullmatch(r"-?\d+", index) or ("=" in item and not _NAME.match(sym)):
        raise IrcError(usage)
    if where in names:
        i = names.index(where)
    elif where.isdigit() and int(where) < len(input_types):
        i = int(where)
    else:
        known = ", ".join(n for n in names if n) or f"positions 0 to {len(input_types) - 1}"
        raise IrcError(f"--dynamic '{item}': no input '{where}' (inputs: {known})")
    rank, k = len(input_types[i][0]), int(index)
    if not -rank <= k < rank:
        raise IrcError(f"--dynamic '{item}': input '{where}' has {rank} per-sample dims (0 to {rank - 1}; the batch "
                       "is 'batch')")
    if sym == "batch":
        raise IrcError(f"--dynamic '{item}': 'batch' names the batch dimension; pick another name")
    dims[i][k % rank] = sym or None


def plan_inputs(inputs: list[str], shapes: list[tuple], dtypes: list[str], batch: int | str,
                dynamic: list[str]) -> InputPlan:
    """The inputs `--input` (or `--shape` and `--dtype`) describe, with the dims `--dynamic` makes dynamic:
    `--dynamic batch,mask.0=seq,x.1=seq` (a dim named twice is one size)."""
    if inputs and (shapes or dtypes):
        raise IrcError("--input names each input with its shape and dtype; do not mix it with --shape/--dtype")
    parsed = [parse_input(t) for t in inputs]
    names = [n for n, _, _ in parsed]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise IrcError(f"--input: the name '{dup}' is given twice")
    input_types = [(s, d) for _, s, d in parsed] if inputs else list(zip(shapes, dtypes, strict=True))
    dims: list = [{} for _ in input_types]
    for item in (i.strip() for text in dynamic for i in text.split(",")):
        if item == "batch":
            if batch not in (1, "dynamic"):
                raise IrcError(f"--dynamic batch and --batch {batch} disagree: give one of them")
            batch = "dynamic"
        elif item:
            _dynamic_item(item, names or [""] * len(input_types), input_types, dims)
    return InputPlan(input_types, names or None, batch, dims if any(dims) else None)
