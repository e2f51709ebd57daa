"""merge-recurrent-layers: stacked recurrent ops, one per layer, become one op with num_layers summed.

ONNX has one LSTM/GRU/RNN node per layer of a stacked nn.LSTM; between two layers the exporter brings Y
to ONNX's [seq, dirs, batch, H] layout and back. A recurrent op fed, through reshapes/transposes/squeezes
that together leave the tensor as it was, by another of the same kind and attributes (neither taking
initial states) is merged with it, so the emitted PyTorch holds one nn.LSTM(num_layers=2) as the source
did. Their final states, concatenated along axis 0, become the merged op's; a state read on its own is
sliced out of it, and must be read after the second op.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Func, Module
from ..ir.ops.recurrent import num_weights
from ..ir.rewriter import Rewriter
from .base import Pass

RECURRENT = ("lstm", "gru", "rnn")
CHAIN = ("reshape", "transpose", "squeeze")  # what may stand between two layers


@dataclass
class MergeRecurrentLayers(Pass):
    name = "merge-recurrent-layers"
    summary = "one op per stacked recurrent module: an lstm/gru/rnn fed by one like it (ONNX's layers) joins it"

    def apply(self, module: Module) -> bool:
        return sum(merge_layers(func) for func in module.funcs) > 0


def merge_layers(func: Func) -> int:
    """Merge stacked recurrent ops in `func` until none are left; return how many merges were made."""
    merged = 0
    while True:
        found = _find_pair(func)
        if found is None:
            return merged
        _merge(func, *found)
        merged += 1


def _find_pair(func):
    """(first, second, chain): layer op `second` reading layer op `first`'s output through `chain`, or None."""
    pos = {id(op): i for i, op in enumerate(func.ops)}
    for second in func.ops:
        if second.kind not in RECURRENT or second.operands[0].owner is None:
            continue
        v = second.operands[0]
        while v.owner is not None and v.owner.kind in CHAIN:
            v = v.owner.operands[0]
        first = v.owner
        if first is None or first.name != second.name or v is not first.results[0]:
            continue
        keys = set(first.attrs) | set(second.attrs)
        same = all(first.attrs.get(k) == second.attrs.get(k) for k in keys if k != "num_layers")
        if not same or _split(first)[1] or _split(second)[1]:
            continue
        chain = _identity_chain(first, second)
        if chain is None:
            continue
        if any(u is not second and pos[id(u)] < pos[id(second)] for r in first.results[1:] for u in r.uses):
            continue
        return first, second, chain
    return None


def _merge(func, first, second, chain) -> None:
    """Replace layer ops `first` and `second` (and the chain between them) by one op with their layers."""
    rw = Rewriter(func)
    la, lb = first.attrs["num_layers"], second.attrs["num_layers"]
    dirs = 2 if first.attrs["bidirectional"] else 1
    attrs = {**first.attrs, "num_layers": la + lb}
    state_t = second.results[1].type.with_shape(((la + lb) * dirs,) + tuple(second.results[1].type.shape[1:]))
    operands = [first.operands[0]] + list(_split(first)[0]) + list(_split(second)[0])
    types = [second.results[0].type] + [state_t] * (len(second.results) - 1)
    m = rw.create(first.name, operands, attrs, types, [r.name for r in first.results], first.loc)
    rw.insert_before(second, m)
    for i, (ra, rb) in enumerate(zip(first.results[1:], second.results[1:], strict=True)):
        _reroute_state(rw, second, m.results[1 + i], ra, rb, (0, la * dirs, (la + lb) * dirs))
    rw.replace_all_uses(second.results[0], m.results[0])
    rw.erase_op(second)
    for o in chain:
        rw.erase_op(o)
    rw.erase_op(first)
    rw.commit()


def _reroute_state(rw: Rewriter, anchor, merged, ra, rb, bounds) -> None:
    """concat(..., ra, rb, ...) on axis 0 reads the merged state there; other reads of ra or rb read its slice."""
    for user in list(ra.uses):
        ops = list(user.operands)
        pair = [j for j in range(len(ops) - 1) if ops[j] is ra and ops[j + 1] is rb]
        if user.name != "nn.concat" or user.attrs.get("axis") not in (0, -3) or not pair:
            continue
        rest = ops[:pair[0]] + [merged] + ops[pair[0] + 2:]
        if len(rest) == 1:
            rw.replace_op(user, [merged])
        else:
            rw.rebuild(user, operands=rest)
    lo, mid, hi = bounds
    for r, start, end in ((ra, lo, mid), (rb, mid, hi)):
        if r.uses:
            s = rw.create("nn.slice", [merged], {"axes": [0], "starts": [start], "ends": [end]}, [r.type], [r.name])
            rw.insert_before(anchor, s)
            rw.replace_all_uses(r, s.result)


def _split(op):
    """(weights, initial states) of recurrent op `op`'s operands after the input."""
    n = num_weights(op.attrs)
    return op.operands[1:1 + n], op.operands[1 + n:]


def _reshape_groups(dims, sizes, shape):
    """The factor groups after nn.reshape(shape) of a tensor whose dims hold `dims` (tuples of named factors),
    or None when the reshape is not a plain split/merge of trailing dims this can follow."""
    lead = 0
    while lead < len(shape) and lead < len(dims) and shape[lead] == 0:
        lead += 1
    rest = [f for d in dims[lead:] for f in d]
    out = list(dims[:lead])
    for j, s in enumerate(shape[lead:]):
        if s == -1 and j == len(shape) - lead - 1:
            out.append(tuple(rest))
            rest = []
            continue
        if s <= 0:
            return None
        grp, prod = [], 1
        while rest and prod < s:
            f = rest.pop(0)
            if sizes.get(f) is None:
                return None
            grp.append(f)
            prod *= sizes[f]
        if prod != s:
            return None
        out.append(tuple(grp))
    return None if rest else out


def _chain_ops(first, second):
    """The single-use chain ops from `first`'s output sequence to `second`'s input, last first (else None)."""
    v, ops = second.operands[0], []
    while v is not first.results[0]:
        o = v.owner
        if o is None or o.kind not in CHAIN or len(v.uses) != 1:
            return None
        ops.append(o)
        v = o.operands[0]
    return ops if len(first.results[0].uses) == 1 else None


def _follow(dims, sizes, op):
    """The factor groups after chain op `op`, or None when this cannot follow it."""
    if op.kind == "transpose":
        perm = op.attrs["perm"]
        return [dims[p] for p in perm] if len(perm) == len(dims) else None
    if op.kind == "squeeze":  # only dims made of size-1 factors (one direction's axis)
        axes = {ax % len(dims) for ax in op.attrs["axes"]}
        if any(sizes.get(f) != 1 for ax in axes for f in dims[ax]):
            return None
        return [d for i, d in enumerate(dims) if i not in axes]
    return _reshape_groups(dims, sizes, op.attrs["shape"])


def _identity_chain(first, second):
    """The reshape/transpose ops from layer op `first`'s output sequence to layer op `second`'s input when together
    they leave the tensor as it was (ONNX's Y layout and back), else None."""
    ops = _chain_ops(first, second)
    if ops is None:
        return None
    dirs = 2 if first.attrs["bidirectional"] else 1
    start = [("s0",), ("s1",), ("d", "h")]
    dims, sizes = list(start), {"d": dirs, "h": first.attrs["hidden_size"], "s0": None, "s1": None}
    for o in reversed(ops):
        dims = _follow(dims, sizes, o)
        if dims is None:
            return None

    def norm(ds):  # a size-1 factor (one direction) may be dropped or kept
        return [tuple(f for f in d if sizes.get(f) != 1) for d in ds]

    return ops if len(dims) == 3 and norm(dims) == norm(start) else None
