"""torch.export of the user's model: a private copy in eval mode, example inputs, dynamic shapes, torch's
own noise kept quiet, and the decomposition to the ATen ops the importers know.

`torch.export.export(copy, args, strict=False)` gives a functional ATen graph; `run_decompositions({})`
keeps whole the ops irc knows (conv2d, linear, batch norm, hardswish, pooling, cat, ...). Ops irc has no
importer for are decomposed to core ATen where torch has a decomposition; whatever is left is reported,
all at once, by the importer.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import re
import warnings
from collections.abc import Callable, Iterator

import torch

from ...ir import IrcError
from ...ir.dtypes import TABLE, torch_dtype
from .importer import IMPORTERS, NEVER_FOLD, SHAPE_ONLY, is_tensor
from .recurrent import patch_recurrent


def _example_inputs(input_types, batch):
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


def _dynamic_specs(input_types, batch_dynamic, dynamic_dims):
    """torch.export dynamic_shapes for the inputs: dim 0 when the batch is dynamic, and the per-sample
    dims listed in `dynamic_dims` (one list per input) as Dim.AUTO: export works out their ranges and
    which of them are equal from the model (a conv stack's width must be at least its total stride, say)."""
    if dynamic_dims is not None and len(dynamic_dims) != len(input_types):
        raise IrcError(f"dynamic_dims has {len(dynamic_dims)} entries for {len(input_types)} inputs: give one "
                       "list of per-sample dims per input ([] for an input without dynamic dims)")
    batch_dim = torch.export.Dim("batch", min=1) if batch_dynamic else None
    specs, any_dynamic = [], batch_dynamic
    for i, (shape, _) in enumerate(input_types):
        spec = {0: batch_dim} if batch_dynamic else {}
        for k in (dynamic_dims or [None] * len(input_types))[i] or ():
            if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < len(shape):
                raise IrcError(f"dynamic_dims of input {i}: {k!r} is not a dimension of its per-sample shape "
                               f"{tuple(shape)} (0 to {len(shape) - 1}; the batch is made dynamic by batch='dynamic')")
            if int(shape[k]) < 2:
                raise IrcError(f"dynamic_dims of input {i}: the example size of dim {k} must be at least 2 "
                               f"(torch.export specialises sizes 0 and 1), got {shape[k]}")
            spec[k + 1] = torch.export.Dim.AUTO
            any_dynamic = True
        specs.append(spec)
    return tuple(specs), any_dynamic


def _check_dynamic(ep, dynamic_dims, warn):
    """Warn about each requested dynamic dim that export made static (the model needs that one size)."""
    users = [n for n in ep.graph.nodes if n.op == "placeholder"
             and any(s.arg.name == n.name and s.kind.name == "USER_INPUT" for s in ep.graph_signature.input_specs
                     if hasattr(s.arg, "name"))]
    for i, dims in enumerate(dynamic_dims or ()):
        val = users[i].meta.get("val") if i < len(users) else None
        for k in dims or ():
            if val is not None and isinstance(val.shape[k + 1], int):
                warn(f"dimension {k} of input {i} stays static ({val.shape[k + 1]}): torch.export found the model "
                     "needs that size")


def _export_copy(model):
    try:
        root = _copy_module(model)
    except Exception as e:
        raise IrcError(f"cannot copy the model for export (irc never exports the user's own object): "
                       f"{_short_reason(e)}") from None
    root.eval()
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


def export(model: torch.nn.Module, input_types: list, batch: int | str, warn: Callable[[str], None],
           dynamic_dims: list | None = None) -> tuple[torch.export.ExportedProgram, torch.nn.Module]:
    """torch.export a deep copy of `model` in eval mode; returns (ExportedProgram, the copy)."""
    root = _export_copy(model)
    dynamic = batch == "dynamic"
    if not dynamic:
        batch = _check_batch(batch)
    specs, any_dynamic = _dynamic_specs(input_types, dynamic, dynamic_dims)
    with torch.no_grad():
        if any_dynamic:
            what = "a dynamic batch" if not dynamic_dims or not any(dynamic_dims) else "dynamic dimensions"
            try:
                ep = torch.export.export(root, _example_inputs(input_types, 2 if dynamic else batch),
                                         dynamic_shapes=specs, strict=False)
                _check_dynamic(ep, dynamic_dims, warn)
                return ep, root
            except Exception as e:
                fallback = "batch 1" if dynamic else "static shapes"
                warn(f"export with {what} failed, importing with {fallback} instead: {_short_reason(e)}")
                root = _export_copy(model)
                batch = 1 if dynamic else batch
        try:
            ep = torch.export.export(root, _example_inputs(input_types, batch), strict=False)
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
                     progress: Callable[[str], None], warn: Callable[[str], None],
                     dynamic_dims: list | None) -> tuple[torch.export.ExportedProgram, torch.nn.Module | None, str]:
    """The ExportedProgram of `model` (an nn.Module, a ScriptModule or an ExportedProgram already), the
    exported copy (None for an ExportedProgram given) and the model's name."""
    if isinstance(model, torch.export.ExportedProgram):
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
        ep, root = export(model, input_types, batch, warn, dynamic_dims)
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


def foldable_nodes(ep: torch.export.ExportedProgram) -> set:
    """Nodes computable at import time: they read no input and no parameter or buffer."""
    consts = {s.arg.name for s in ep.graph_signature.input_specs
              if s.kind.name == "CONSTANT_TENSOR" and hasattr(s.arg, "name")}
    out: set = set()
    for n in ep.graph.nodes:
        if n.op == "placeholder":
            if n.name in consts:
                out.add(n)
            continue
        if n.op != "call_function" or n.target in NEVER_FOLD:
            continue
        val = n.meta.get("val")
        if n.target in SHAPE_ONLY:
            if is_tensor(val) and all(isinstance(d, int) for d in val.shape):
                out.add(n)
            continue
        if all(a in out or isinstance(a.meta.get("val"), (int, float, bool)) for a in n.all_input_nodes):
            out.add(n)
    return out


def _decomposable(node: torch.fx.Node, table: dict) -> bool:
    """An ATen op irc has no importer for, that torch can decompose, and that computes tensors."""
    target = node.target
    return isinstance(target, torch._ops.OpOverload) and target not in IMPORTERS and target not in SHAPE_ONLY \
        and target in table and (is_tensor(node.meta.get("val")) or isinstance(node.meta.get("val"), (list, tuple)))


def decompose_unknown(ep: torch.export.ExportedProgram, rounds: int = 4) -> torch.export.ExportedProgram:
    """Decompose, to core ATen, the ops irc has no importer for (where torch has a decomposition)."""
    try:
        table = torch._decomp.core_aten_decompositions()
    except Exception:
        return ep
    tried: set = set()
    for _ in range(rounds):
        # never decompose what is computed at import time anyway, nor shape arithmetic (sym_size has a
        # "decomposition" that bakes the example's sizes in)
        folded = foldable_nodes(ep)
        unknown = {n.target for n in ep.graph.nodes if n.op == "call_function" and n not in folded
                   and n.target not in tried and _decomposable(n, table)}
        if not unknown:
            break
        tried |= unknown
        ep = ep.run_decompositions({op: table[op] for op in unknown})
    return ep


def decompose(ep: torch.export.ExportedProgram) -> torch.export.ExportedProgram:
    """`run_decompositions({})` (keeps whole the ops irc knows), then `decompose_unknown`."""
    try:
        with quiet_torch():
            ep = ep.run_decompositions({})
            return decompose_unknown(ep)
    except Exception as e:
        raise IrcError(f"torch.export could not decompose the model: {_short_reason(e)}") from None
