"""Decomposition of an exported graph to the ATen ops irc imports, paying for torch's re-trace only when needed.

`known_as_exported` keeps the graph torch.export gave when irc imports every op in it to the same IR that
`run_decompositions({})` would give (in-place updates made out-of-place where nothing reads the old value,
`flatten` a view); that skips a re-trace of the whole model (1-2 s on a ResNet). `decompose_unknown`
decomposes, to core ATen, only the ops irc has no importer for.
"""

from __future__ import annotations

import copy
import functools

import torch

from .importer import IMPORTERS, NEVER_FOLD, SHAPE_ONLY, is_tensor


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


def _out_of_place(target: object) -> torch._ops.OpOverload | None:
    """The out-of-place overload of an in-place ATen overload that writes only its first argument
    (aten.relu_.default -> aten.relu.default), else None."""
    if not isinstance(target, torch._ops.OpOverload) or target.namespace != "aten":
        return None
    schema = target._schema
    writes = [a.alias_info is not None and a.alias_info.is_write for a in schema.arguments]
    base = schema.name.split("::")[-1]
    if not writes or not writes[0] or any(writes[1:]) or not base.endswith("_") or base.endswith("__"):
        return None
    overload = getattr(getattr(torch.ops.aten, base[:-1], None), schema.overload_name or "default", None)
    if not isinstance(overload, torch._ops.OpOverload) or overload._schema.is_mutable \
            or len(overload._schema.arguments) != len(schema.arguments):
        return None
    return overload


def _fresh(target: object) -> bool:
    """An ATen overload whose results alias none of its arguments (no view, no in-place update)."""
    return isinstance(target, torch._ops.OpOverload) and not target._schema.is_mutable \
        and all(r.alias_info is None for r in target._schema.returns)


def out_of_place_targets(ep: torch.export.ExportedProgram) -> dict | None:
    """{in-place node: its out-of-place overload} when every in-place update in the graph can compute a new
    tensor instead: it updates a tensor an earlier op computed afresh (no input, parameter or view) and that
    nothing reads or views afterwards. None when some update cannot (or the graph has subgraphs)."""
    order = {n: i for i, n in enumerate(ep.graph.nodes)}
    out: dict = {}
    for node in ep.graph.nodes:
        if node.op == "get_attr":
            return None
        if node.op != "call_function" or not isinstance(node.target, torch._ops.OpOverload) \
                or not node.target._schema.is_mutable:
            continue
        functional = _out_of_place(node.target)
        src = node.args[0] if node.args else None
        if functional is None or not isinstance(src, torch.fx.Node) or src.op != "call_function" \
                or not (src in out or _fresh(src.target)):
            return None
        if any(u is not node and (order[u] > order[node] or not _fresh(u.target)) for u in src.users):
            return None
        out[node] = functional
    return out


# CompositeImplicitAutograd ops that run_decompositions({}) decomposes but that import to the same IR whole
_SAME_WHOLE = {torch.ops.aten.batch_norm.default, torch.ops.aten.dropout.default}


@functools.lru_cache(maxsize=1)
def _kept_whole() -> frozenset:
    """The CompositeImplicitAutograd ops run_decompositions keeps whole (conv2d, linear, pooling, ...)."""
    return frozenset(torch.export.default_decompositions().keys())


def _as_exported(node: torch.fx.Node, target: object) -> tuple | None:
    """(target, args) to import `node` with as exported, the same IR as after run_decompositions({}); None when
    it needs the decomposition."""
    if node.op != "call_function" or not isinstance(target, torch._ops.OpOverload):
        return target, node.args
    if target is torch.ops.aten.flatten.using_ints:  # decomposes to a view of the (static) result shape
        val = node.meta.get("val")
        if not is_tensor(val) or not all(isinstance(d, int) for d in val.shape):
            return None
        return torch.ops.aten.view.default, (node.args[0], list(val.shape))
    if target not in IMPORTERS and target not in SHAPE_ONLY:
        return None
    cia = torch._C._dispatch_has_kernel_for_dispatch_key(target.name(), "CompositeImplicitAutograd")
    if cia and target not in _kept_whole() and target not in _SAME_WHOLE:
        return None
    return target, node.args


def known_as_exported(ep: torch.export.ExportedProgram) -> torch.export.ExportedProgram | None:
    """The exported graph as it is (in-place updates made out-of-place, flatten a view), when irc imports every
    op in it to the IR run_decompositions({}) would give (that would only re-trace the graph); None when some op
    needs torch's decompositions."""
    targets = out_of_place_targets(ep)
    if targets is None:
        return None
    rewrites: dict = {}  # node -> (target, args) to import it with
    for node in ep.graph.nodes:
        new = _as_exported(node, targets.get(node, node.target))
        if new is None:
            return None
        if new != (node.target, node.args):
            rewrites[node] = new
    graph = torch.fx.Graph()  # a copy (the program may be the caller's own): nodes, names and meta kept
    graph._codegen = copy.deepcopy(ep.graph._codegen)
    copies: dict = {}
    result, old_output = graph.graph_copy(ep.graph, copies, return_output_node=True)
    graph.output(result).meta = dict(old_output.meta)
    for node, copied in copies.items():
        copied.name = node.name  # (a fresh graph renames `input`, which the signature names)
    for node, (target, args) in rewrites.items():
        copies[node].target = target
        copies[node].args = torch.fx.node.map_arg(args, lambda n: copies[n])
    graph.eliminate_dead_code()  # as run_decompositions does: an unused result (max's indices) is no op to import
    return ep._update(torch.fx.GraphModule(ep.graph_module, graph), ep.graph_signature)
