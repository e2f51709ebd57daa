"""Helpers for importing ONNX LSTM / GRU / RNN nodes (the handler is `_recurrent` in onnx.py).

- Initial states that are zeros (a constant, or what torch.onnx.export writes for nn.LSTM's default
  state over a dynamic batch: ConstantOfShape of a shape read from the input, then Slice) are left
  out of the IR op: absent means zeros, as in PyTorch. ConstantOfShape over dynamic dims imports as
  nn.expand_like of a one-element constant (dead, and dropped, when only a recurrent node read it).
- Keys: layer k of module `m` gets `m.weight_ih_l{k}` ..., k counting the recurrent nodes of that
  module, so what torch.onnx.export writes for a stacked nn.LSTM (one node per layer, all under
  `/lstm/`) imports under the nn.LSTM's own state_dict keys.
- Stacked layers: `merge_layers` (run at the end of the import) joins a recurrent op fed by another of
  the same kind and attributes, through reshapes/transposes that cancel (ONNX's Y layout and back), into
  one op with the layers summed, so the emitted PyTorch holds one nn.LSTM(num_layers=2) as the source did.
"""

from __future__ import annotations

import numpy as np

from ..ir import DenseAttr, TensorType, Value
from .onnx import Const, Opaque, Shp, Sym, Unsupported, _ir_dtype, handles

# ONNX gate blocks -> PyTorch's: LSTM i,o,f,c -> i,f,g(=c),o; GRU z,r,h -> r,z,n(=h)
_PASS = ("slice", "expand", "expand_like", "reshape", "transpose", "cast", "squeeze", "unsqueeze", "identity")


def zero_state(x, store=None) -> bool:
    """A Const of zeros, or a Value that is a zeros literal (an nn.constant, or an nn.param in `store`)
    broadcast, sliced or reshaped."""
    if isinstance(x, Const):
        return x.array.size > 0 and not np.any(x.array)
    v = x
    while isinstance(v, Value) and v.owner is not None and v.owner.kind in _PASS:
        v = v.owner.operands[0]
    if not isinstance(v, Value) or v.owner is None:
        return False
    if v.owner.name == "nn.param" and store is not None and store.has(v.owner.attrs["key"]):
        arr = store.numpy(v.owner.attrs["key"])
        return arr.size > 0 and arr.dtype.kind == "f" and not np.any(arr)
    if v.owner.name != "nn.constant":
        return False
    vals = np.asarray(v.owner.attrs["value"].values, dtype=object).ravel()
    return all(float(e) == 0.0 for e in vals)


def module_base(L, node) -> str:
    """The module path a recurrent node's weights go under: its name scope, without the `__<what>` of irc's own
    helper names (irc writes layer k of `%lstm` as a node with output `lstm__y_l{k}`)."""
    base = L.base_name(node)
    return base.split("__", 1)[0] or base


def layer_index(L, base: str) -> int:
    """The layer number of this recurrent node within module `base`: how many came before it."""
    layers = L.__dict__.setdefault("_rnn_layers", {})
    k = layers.get(base, 0)
    layers[base] = k + 1
    return k


@handles("ConstantOfShape")
def _constant_of_shape(L, node):
    """ConstantOfShape of a shape with dynamic entries (a constant shape is folded before this): the value
    broadcast with nn.expand_like from the one tensor whose dims the shape reads."""
    shape = L.inp(0)
    if not isinstance(shape, Shp):
        raise Unsupported("the shape is computed at run time from data")
    from onnx import numpy_helper

    value = L.attr("value")
    arr = numpy_helper.to_array(value) if value is not None else np.zeros(1, np.float32)
    entries = list(shape.array.ravel())
    dtype = _ir_dtype(arr)
    scalar = arr.ravel()[0].item()
    c = L.emit("constant", [], {"value": DenseAttr(scalar, TensorType((1,) * len(entries), dtype))})
    target, like, src = [], [], None
    for i, t in enumerate(entries):
        if isinstance(t, Sym):
            if isinstance(t, Opaque) or t.value is None or (src is not None and src is not t.value):
                raise Unsupported("ConstantOfShape to a computed dynamic size")
            src = t.value
            target.append(-1)
            like.append([i, t.dim])
        else:
            target.append(int(t))
    return L.emit("expand_like", [c, src], {"shape": target, "like_dims": like})




# ----------------------------------------------------------------------------- stacked layers

_RECURRENT = ("lstm", "gru", "rnn")
_CHAIN = ("reshape", "transpose", "squeeze")


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


def _identity_chain(a, b):
    """The reshape/transpose ops from layer op a's output sequence to layer op b's input when together they
    leave the tensor as it was (ONNX's Y layout and back), else None."""
    v, ops = b.operands[0], []
    while v is not a.results[0]:
        o = v.owner
        if o is None or o.kind not in _CHAIN or len(v.uses) != 1:
            return None
        ops.append(o)
        v = o.operands[0]
    if len(a.results[0].uses) != 1:
        return None
    dirs = 2 if a.attrs.get("bidirectional") else 1
    start = [("s0",), ("s1",), ("d", "h")]
    dims, sizes = list(start), {"d": dirs, "h": a.attrs["hidden_size"], "s0": None, "s1": None}
    for o in reversed(ops):
        if o.kind == "transpose":
            perm = o.attrs["perm"]
            if len(perm) != len(dims):
                return None
            dims = [dims[p] for p in perm]
        elif o.kind == "squeeze":  # only dims made of size-1 factors (one direction's axis)
            axes = {ax % len(dims) for ax in o.attrs["axes"]}
            if any(sizes.get(f) != 1 for ax in axes for f in dims[ax]):
                return None
            dims = [d for i, d in enumerate(dims) if i not in axes]
        else:
            dims = _reshape_groups(dims, sizes, o.attrs["shape"])
            if dims is None:
                return None

    def norm(ds):  # a size-1 factor (one direction) may be dropped or kept
        return [tuple(f for f in d if sizes.get(f) != 1) for d in ds]

    return ops if len(dims) == 3 and norm(dims) == norm(start) else None


def _split(op):
    from ..ir.ops.recurrent import num_weights

    n = num_weights({"num_layers": op.attrs.get("num_layers", 1), "bidirectional": op.attrs.get("bidirectional", False),
                     "bias": op.attrs.get("bias", True)})
    return op.operands[1:1 + n], op.operands[1 + n:]


def merge_layers(func) -> int:
    """Recurrent ops fed, through reshapes and transposes that cancel, by another one of the same kind and
    attributes (ONNX's one node per layer of a stacked nn.LSTM) become one op with num_layers summed; in a
    Concat along axis 0 their two final states become the merged op's. Neither may take initial
    states, and a state read on its own must be read after the second op. Returns how many merged."""
    from ..ir.rewriter import Rewriter

    merged = 0
    while True:
        pos = {id(op): i for i, op in enumerate(func.ops)}
        found = None
        for b in func.ops:
            if b.kind not in _RECURRENT or b.operands[0].owner is None:
                continue
            v = b.operands[0]
            while v.owner is not None and v.owner.kind in _CHAIN:
                v = v.owner.operands[0]
            a = v.owner
            if a is None or a.name != b.name or v is not a.results[0]:
                continue
            same = all(a.attrs.get(k) == b.attrs.get(k) for k in set(a.attrs) | set(b.attrs) if k != "num_layers")
            if not same or _split(a)[1] or _split(b)[1]:
                continue
            chain = _identity_chain(a, b)
            if chain is None:
                continue
            if any(u is not b and pos[id(u)] < pos[id(b)] for r in a.results[1:] for u in r.uses):
                continue
            found = (a, b, chain)
            break
        if found is None:
            return merged
        a, b, chain = found
        rw = Rewriter(func)
        la, lb = a.attrs.get("num_layers", 1), b.attrs.get("num_layers", 1)
        dirs = 2 if a.attrs.get("bidirectional") else 1
        attrs = {**a.attrs, "num_layers": la + lb}
        state_t = b.results[1].type.with_shape(((la + lb) * dirs,) + tuple(b.results[1].type.shape[1:]))
        m = rw.create(a.name, [a.operands[0]] + list(_split(a)[0]) + list(_split(b)[0]), attrs,
                      [b.results[0].type] + [state_t] * (len(b.results) - 1), [r.name for r in a.results], a.loc)
        rw.insert_before(b, m)
        for i, (ra, rb) in enumerate(zip(a.results[1:], b.results[1:])):
            mh = m.results[1 + i]
            for user in list(ra.uses):  # concat(..., ra, rb, ...) on axis 0 reads mh there
                ops = list(user.operands)
                pair = [j for j in range(len(ops) - 1) if ops[j] is ra and ops[j + 1] is rb]
                if user.name != "nn.concat" or user.attrs.get("axis") not in (0, -3) or not pair:
                    continue
                rest = ops[:pair[0]] + [mh] + ops[pair[0] + 2:]
                if len(rest) == 1:
                    rw.replace_op(user, [mh])
                else:
                    rw.rebuild(user, operands=rest)
            for r, lo, hi in ((ra, 0, la * dirs), (rb, la * dirs, (la + lb) * dirs)):
                if r.uses:
                    s = rw.create("nn.slice", [mh], {"axes": [0], "starts": [lo], "ends": [hi]}, [r.type], [r.name])
                    rw.insert_before(b, s)
                    rw.replace_all_uses(r, s.result)
        rw.replace_all_uses(b.results[0], m.results[0])
        rw.erase_op(b)
        for o in chain:
            rw.erase_op(o)
        rw.erase_op(a)
        rw.commit()
        merged += 1


__all__ = ["layer_index", "merge_layers", "module_base", "zero_state"]
