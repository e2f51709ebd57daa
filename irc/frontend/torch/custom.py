"""What the user adds or keeps: `--keep-module` (one opaque `nn.call_module` per instance of a class), importers
for ATen ops added without forking irc (`register_importer`, entry point group `irc.torch_importers`), and
`torch.cond` (a constant predicate folds to the branch taken).

Keeping a module: before export, the `forward` of every instance of a kept class in irc's private copy of
the model is pointed at one custom op, `irc_keep::call(inputs, state, index)`, whose shape function runs
the module's own forward on export's fake tensors; the op's state operands are the module's state_dict
entries, so they enter the IR as `nn.param`s under their state_dict keys. The importer turns the op into
`nn.call_module` with the class's import path, the instance's path, the state names, the result types
export recorded and, when they can be recovered, the constructor's arguments.

Plugins: an entry point in the group `irc.torch_importers` names a callable taking one argument,
`register_importer`, which it calls once per ATen op it adds, e.g. in a plugin's pyproject.toml:

    [project.entry-points."irc.torch_importers"]
    my_ops = "my_package.irc_plugin:register"

    # my_package/irc_plugin.py
    def register(register_importer):
        register_importer(torch.ops.aten.my_op.default, my_op)   # my_op(importer, node, *args) -> Value

A handler gets the importer, the fx node and its arguments, and returns the IR value(s) the node computes
(`importer.operand(arg)` for an operand, `importer.result("relu", [x])` to emit an op typed as the node).
"""

from __future__ import annotations

import inspect
import json
import re
import types
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ...ir import IrcError
from ...ir.core import sanitize_name as sanitize
from ..core import POISON, Unsupported
from .importer import IMPORTERS, TorchImporter, imports, is_tensor, tensor_type
from .load import resolve_arch

ENTRY_POINT_GROUP = "irc.torch_importers"
_SAFE_TEXT = re.compile(r"[A-Za-z0-9_]*\Z")  # strings a recovered constructor argument may hold


# ----------------------------------------------------------------------------- plugins


def register_importer(aten_op: object, fn: Callable, replace: bool = False) -> None:
    """Import the ATen overload `aten_op` (e.g. `torch.ops.aten.erfinv.default`) with
    `fn(importer, node, *args, **kwargs)`; an op irc imports already needs `replace=True`."""
    if not isinstance(aten_op, torch._ops.OpOverload):
        raise IrcError(f"register_importer: {aten_op!r} is not an ATen overload (e.g. torch.ops.aten.erfinv.default; "
                       "a packet such as torch.ops.aten.erfinv needs its overload)")
    if not callable(fn):
        raise IrcError(f"register_importer: the importer for {aten_op} is not callable")
    if aten_op in IMPORTERS and not replace:
        raise IrcError(f"register_importer: irc imports {aten_op} already; pass replace=True to override it")
    IMPORTERS[aten_op] = fn


_plugins_loaded = False


def load_plugins() -> None:
    """Run every `irc.torch_importers` entry point once (each registers its importers)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry.load()(register_importer)
        except IrcError:
            raise
        except Exception as e:
            raise IrcError(f"the irc.torch_importers plugin '{entry.name}' ({entry.value}) failed: "
                           f"{type(e).__name__}: {e}") from None


# ----------------------------------------------------------------------------- kept modules


@dataclass
class Kept:
    """One instance of a kept class in the exported copy."""

    spec: str  # the class as the IR names it: "package.module:Class" or "path/to/file.py:Class"
    path: str  # the instance's path in the model ("layer1.0.attn")
    module: torch.nn.Module
    init: str  # the constructor's keyword arguments as JSON, "" when not recovered
    returns: str = "tensor"  # "tensor" or "tuple" (what forward returned, seen by the shape function)


KEPT: list[Kept] = []  # index (the custom op's third argument) -> Kept; one entry per instance of an export


def _flat_outputs(kept: Kept, out: object) -> list[torch.Tensor]:
    if is_tensor(out):
        kept.returns = "tensor"
        return [out]
    if isinstance(out, (tuple, list)) and out and all(is_tensor(t) for t in out):
        kept.returns = "tuple"
        return list(out)
    raise IrcError(f"--keep-module {kept.spec}: {kept.path or 'the model'} returns a {type(out).__name__}; a kept "
                   "module must return a tensor or a flat tuple of tensors")


def _run_original(kept: Kept, inputs: list, state: list) -> list[torch.Tensor]:
    """The module's own forward (not the patched one) on `inputs`, with `state` as its state_dict."""
    module = kept.module
    names = list(module.state_dict(keep_vars=True))
    patched = module.__dict__.pop("forward", None)
    try:
        out = torch.func.functional_call(module, dict(zip(names, state, strict=True)), tuple(inputs))
    finally:
        if patched is not None:
            module.forward = patched
    return _flat_outputs(kept, out)


@torch.library.custom_op("irc_keep::call", mutates_args=())
def _keep_call(inputs: list[torch.Tensor], state: list[torch.Tensor], index: int) -> list[torch.Tensor]:
    return [t.clone() for t in _run_original(KEPT[index], inputs, state)]


@_keep_call.register_fake
def _(inputs, state, index):
    return [torch.empty_like(t) for t in _run_original(KEPT[index], inputs, state)]


def _patched_forward(index: int) -> Callable:
    def forward(self, *args, **kwargs):
        kept = KEPT[index]
        if kwargs or not args or not all(is_tensor(a) for a in args):
            raise IrcError(f"--keep-module {kept.spec}: {kept.path} is called with "
                           f"{'keyword arguments' if kwargs else 'arguments that are not tensors'}; a kept module "
                           "must be called with tensors only, positionally")
        state = list(self.state_dict(keep_vars=True).values())
        out = torch.ops.irc_keep.call(list(args), state, index)
        return out[0] if kept.returns == "tensor" else tuple(out)
    return forward


def resolve_keep(spec: str) -> type:
    """`package.module:Class` or `path/to/file.py:Class` → the nn.Module class."""
    cls = resolve_arch(spec, flag="--keep-module")
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise IrcError(f"--keep-module '{spec}': {getattr(cls, '__name__', cls)!r} is not an nn.Module class")
    return cls


def patch_kept(root: torch.nn.Module, specs: list[str], warn: Callable[[str], None]) -> int:
    """Point the forward of every instance of the classes `specs` in `root` (irc's private copy) at
    `irc_keep::call`; a kept module inside another kept one is part of that one. Returns how many."""
    classes = [(spec, resolve_keep(spec)) for spec in specs]
    found = {spec: 0 for spec in specs}
    inside: list[str] = []
    for path, module in root.named_modules():
        if any(path.startswith(p + ".") for p in inside):
            continue
        spec = next((s for s, cls in classes if type(module) is cls), None)
        if spec is None:
            continue
        if module is root:
            raise IrcError(f"--keep-module {spec}: that is the model itself; keep one of its submodules")
        found[spec] += 1
        inside.append(path)
        KEPT.append(Kept(spec, path, module, recover_init(module, spec, path, warn)))
        module.forward = types.MethodType(_patched_forward(len(KEPT) - 1), module)
    missing = [s for s, n in found.items() if n == 0]
    if missing:
        raise IrcError(f"--keep-module {', '.join(missing)}: the model holds no instance of "
                       f"{'that class' if len(missing) == 1 else 'those classes'}")
    return len(inside)


def _literal(value: object) -> bool:
    if value is None or isinstance(value, (bool, int, float)):
        return True
    if isinstance(value, str):
        return bool(_SAFE_TEXT.match(value))
    return isinstance(value, (list, tuple)) and all(_literal(v) for v in value)


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(sa[k].shape == sb[k].shape and sa[k].dtype == sb[k].dtype for k in sa)


def recover_init(module: torch.nn.Module, spec: str, path: str, warn: Callable[[str], None]) -> str:
    """The constructor's keyword arguments as JSON, read back from attributes of the same names and checked by
    building a fresh instance with the same state_dict names and shapes; "" (with a warning) when that fails."""
    cls = type(module)
    kwargs = {}
    try:
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    except (TypeError, ValueError):
        params = []
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if hasattr(module, p.name) and _literal(getattr(module, p.name)):
            value = getattr(module, p.name)
            kwargs[p.name] = list(value) if isinstance(value, tuple) else value
    for attempt in (kwargs, {}):
        try:
            if _same_state(cls(**attempt), module):
                return json.dumps(attempt, sort_keys=True) if attempt else ""
        except Exception:  # noqa: BLE001, S112  (a constructor may raise anything: try the next way)
            continue
    warn(f"--keep-module {spec}: cannot recover the constructor arguments of {path} ({cls.__name__}); the torch "
         f"executor and the emitted code construct {cls.__name__}() with none and load its state_dict")
    return ""


@imports(torch.ops.irc_keep.call.default)
def _import_kept(importer, node, inputs, state, index):
    kept = KEPT[index]
    operands = [importer.operand(x) for x in inputs] + [importer.operand(s) for s in state]
    fakes = node.meta.get("val")
    result_types = [tensor_type(v) for v in fakes]
    attrs = {"module": kept.spec, "path": kept.path, "inputs": len(inputs),
             "params": list(kept.module.state_dict(keep_vars=True)), "types": [str(t) for t in result_types],
             "init": kept.init, "returns": kept.returns}
    values = importer.emit("call_module", operands, attrs, result_types, name=sanitize(kept.path), nresults=True)
    for value, fake in zip(values, fakes, strict=True):
        importer.note_syms(value, fake)
    return values


# ----------------------------------------------------------------------------- torch.cond


def _constant(importer, node: object, depth: int = 0) -> object:
    """The value of `node` when it needs no model input (folded, a parameter or buffer, or computed from
    those), else None."""
    if not isinstance(node, torch.fx.Node):
        return node
    if node in importer.folded:
        return importer.folded[node]
    if node in importer.param_nodes:
        return importer.param_nodes[node][1]
    if node.op != "call_function" or depth > 20 or not isinstance(node.target, torch._ops.OpOverload):
        return None
    args = [_constant(importer, a, depth + 1) if isinstance(a, torch.fx.Node) else a for a in node.args]
    if any(a is None for a in args):
        return None
    try:
        with torch.no_grad():
            return node.target(*args, **node.kwargs)
    except Exception:  # noqa: BLE001
        return None


def _cond_where(node: torch.fx.Node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    if len(stack) > 1:
        return "keep the module holding it with the --keep-module this error names"
    return "move it into a submodule and keep that with --keep-module"


@imports(torch.ops.higher_order.cond)
def _cond(importer, node, pred, true_graph, false_graph, operands, *rest):
    value = _constant(importer, pred)
    if value is None:
        raise Unsupported("torch.cond on a predicate computed from the model's inputs (data-dependent control flow): "
                          f"irc folds a torch.cond only when its predicate is a constant; {_cond_where(node)}")
    taken = importer.env.get(true_graph if bool(value) else false_graph)
    if not isinstance(taken, torch.fx.GraphModule):
        raise Unsupported("the branches of this torch.cond are not graphs")
    return inline(importer, taken, list(operands))


def inline(importer: TorchImporter, graph: torch.fx.GraphModule, operands: list) -> list:
    """Import the nodes of a subgraph (a torch.cond branch) on `operands`; returns its outputs' values."""
    saved = importer.node, importer.loc
    places = [n for n in graph.graph.nodes if n.op == "placeholder"]
    if len(places) != len(operands):
        raise Unsupported(f"a subgraph takes {len(places)} operands, given {len(operands)}")
    for inner, outer in zip(places, operands, strict=True):
        _alias(importer, inner, outer)
    outputs = []
    for node in graph.graph.nodes:
        if node.op == "output":
            outputs = [importer.operand(a) for a in node.args[0]]
        elif node.op != "placeholder":
            importer.visit(node, graph)
    importer.node, importer.loc = saved
    return outputs


def _alias(importer, inner: torch.fx.Node, outer: object) -> None:
    """Bind a subgraph placeholder to what the enclosing graph passes it."""
    if not isinstance(outer, torch.fx.Node):
        importer.folded[inner] = outer
    elif outer in importer.param_nodes:
        importer.param_nodes[inner] = importer.param_nodes[outer]
    elif outer in importer.folded:
        importer.folded[inner] = importer.folded[outer]
    else:
        importer.env[inner] = importer.env.get(outer, POISON)


__all__ = ["ENTRY_POINT_GROUP", "KEPT", "load_plugins", "patch_kept", "register_importer",
           "resolve_keep"]
