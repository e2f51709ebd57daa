"""nhwc-to-nchw: make channel-last graphs channel-first.

Two kinds of input become the same NCHW graph: spatial ops with `layout = "nhwc"`, and NCHW ops wrapped
in transposes (TensorFlow/Keras models that came through ONNX).

How it works: every value of the source graph is represented by a new value and a permutation P with
`new = old.permute(P)`. Walking the ops in order:

- a `transpose` emits nothing: it only changes P (so a transpose that meets its inverse cancels, and
  chains of them vanish);
- an nhwc spatial op asks for its input in NCHW order (P = [0, 3, 1, 2]) and becomes the nchw op; conv
  weights are transposed at compile time (HWIO → OIHW; [KH, KW, Cout/g, Cin] → [Cin, Cout/g, KH, KW]);
- element-wise ops run in whatever order their operand has; a param/constant operand of a binary op is
  broadcast-aligned and permuted at compile time;
- ops with axes (every `OpDef.axis_attrs`: concat, split, slice, pad, softmax, mean/sum/max/min,
  squeeze, layer_norm, flatten, ...) have their axes rewritten for any rank (negative axes normalised);
  a layer_norm over several axes gets its weight permuted when their order changes;
- flatten (or a reshape that flattens trailing dims) of a permuted tensor whose flattened dims are not
  contiguous in the new order: when every user (through element-wise ops) is a `linear` with a constant
  weight, the flatten runs on the NCHW tensor and the linear's weight columns are permuted at compile
  time; otherwise the tensor is transposed back first;
- `linear` runs on a permuted tensor when its last dim stayed last; every other op gets its operands in
  the source's order (a transpose is materialised, once per value and order).

The function's signature stays as it was (a transpose at the input and/or output boundary) unless
`{change-signature=true}`: then every rank 3..5 argument whose users want it channel-first (nhwc spatial
ops, or transposes to channel-first) becomes channel-first, and so does every result the graph computes
channel-first. Weights whose key only this op reads keep their key (see fuse-bn); others get a fresh one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir.core import TensorType
from ..ir.ops import OPS
from ..ir.ops.registry import infer_types, prod
from ..ir.rewriter import Rewriter
from ._util import Consts, attrs_of, const_array, is_const
from .base import Pass, PassError

WEIGHT_PERM = (3, 2, 0, 1)  # nhwc conv weights → nchw conv weights (both conv2d and conv_transpose2d)
BINARY = ("nn.add", "nn.sub", "nn.mul", "nn.div", "nn.pow", "nn.maximum", "nn.minimum")


def ident(r):
    return tuple(range(r))


def inverse(p):
    inv = [0] * len(p)
    for i, d in enumerate(p):
        inv[d] = i
    return tuple(inv)


def channels_first(r):
    """The permutation taking channel-last [N, ..., C] to channel-first [N, C, ...]."""
    return (0, r - 1) + tuple(range(1, r - 1))


def permuted(t: TensorType, p) -> TensorType:
    return t.with_shape([t.shape[i] for i in p])


class FeatPerm:
    """State of a flattened value whose last dim holds the source's features in another order:
    new[..., k] = old[..., index[k]]."""

    def __init__(self, index):
        self.index = index


def is_unary(op) -> bool:
    opdef = OPS.get(op.name)
    return opdef is not None and ((opdef.family == "elementwise" and len(opdef.operands) == 1) or op.name == "nn.cast")


@dataclass
class NhwcToNchw(Pass):
    name = "nhwc-to-nchw"
    summary = ("turn channel-last graphs (nhwc ops, or nchw ops wrapped in transposes) into NCHW; weights "
               "transposed at compile time, axes rewritten, transposes cancelled")
    change_signature: bool = False

    def apply(self, module) -> bool:
        changed = False
        for func in module.funcs:
            changed |= _Converter(module, func, self.change_signature).run()
        return changed


class _Converter:
    def __init__(self, module, func, change_signature):
        self.module, self.func = module, func
        self.change_signature = change_signature
        self.rw = Rewriter(func)
        self.consts = Consts(module, self.rw)
        self.m = {}  # id(source value) -> (new value, P or FeatPerm)
        self.cache = {}  # (id(new value), perm) -> permuted value
        self.replaced = []  # source ops replaced by new ones
        self.absorbed = set()  # ids of source transposes that became part of a state (no op has their name)
        self.anchor = None
        self.touched = False

    # -- state

    def get(self, v):
        return self.m.get(id(v), (v, ident(v.type.rank)))

    def set(self, v, nv, p):
        self.m[id(v)] = (nv, p)

    def materialize(self, v, target):
        """A value holding `v` (a source value) permuted by `target`."""
        nv, p = self.get(v)
        if isinstance(p, FeatPerm):
            raise PassError(f"nhwc-to-nchw: internal error: %{v.name} has permuted features")
        target = tuple(target)
        if p == target:
            return nv
        inv = inverse(p)
        q = tuple(inv[t] for t in target)
        back = target == ident(len(target)) and v.owner is not None and id(v.owner) in self.absorbed
        r = len(target)
        suffix = "_nchw" if target == channels_first(r) else "_nhwc" if (r == 4 and p == channels_first(4)) else "_t"
        return self.permute(nv, q, v.name + suffix, v if back else None)

    def permute(self, nv, q, name, source=None):
        """nv.permute(q): at compile time for params/constants, else an nn.transpose (cached)."""
        q = tuple(q)
        if q == ident(len(q)):
            return nv
        key = (id(nv), q)
        if key in self.cache:
            return self.cache[key]
        if is_const(nv):
            arr = const_array(self.module, nv)
            out = self.const_like(nv, np.ascontiguousarray(arr.transpose(q)), name)
        elif self.only_moves_ones(nv.type, q) is not None:  # [N, 1, 1, C] -> [N, C, 1, 1] is a free reshape
            op = self.rw.create("nn.reshape", [nv], {"shape": self.only_moves_ones(nv.type, q)},
                                [permuted(nv.type, q)], [name])
            if source is not None:
                self.rw.adopt_names([op.result], [source])
            self.rw.insert_before(self.anchor, op)
            out = op.result
        else:
            op = self.rw.create("nn.transpose", [nv], {"perm": list(q)}, [permuted(nv.type, q)], [name])
            if source is not None:  # it *is* that source value again: let it have its name back
                self.rw.adopt_names([op.result], [source])
            self.rw.insert_before(self.anchor, op)
            out = op.result
        self.cache[key] = out
        return out

    @staticmethod
    def only_moves_ones(t, q):
        """The reshape `shape` equal to t.permute(q) when q moves only size-1 dims, else None."""
        moved = [d for d in q if t.shape[d] != 1]
        if moved != sorted(moved):
            return None
        from .canonicalize import reshape_target

        return reshape_target(t, permuted(t, q), {i: i for i in range(t.rank) if q[i] == i})

    def const_like(self, nv, arr, name):
        if nv.owner.name == "nn.param":
            return self.consts.replace(self.anchor, nv, arr)
        return self.consts.new(self.anchor, arr, nv.type.dtype, name)

    # -- emitting

    def emit(self, op, operands, attrs, states, name=None):
        """Replace source op `op` by a new op; its results get states `states`."""
        name = name or op.name
        opdef = OPS[name]
        try:
            types = infer_types(opdef, [v.type for v in operands], attrs)
        except Exception as e:  # a bug here must not produce a silently wrong graph
            raise PassError(f"nhwc-to-nchw: cannot rebuild {op.name} %{op.results[0].name}: {e}") from None
        new = self.rw.create(name, operands, attrs, types, [r.name for r in op.results], op.loc)
        self.rw.adopt_names(new, op)
        self.rw.insert_before(op, new)
        for r, nr, p in zip(op.results, new.results, states):
            if not isinstance(p, FeatPerm) and nr.type != permuted(r.type, p):
                raise PassError(f"nhwc-to-nchw: internal error: %{r.name} became {nr.type}, expected "
                                f"{permuted(r.type, p)}")
            self.set(r, nr, p)
        self.replaced.append(op)
        self.touched = True
        return new

    def keep_or_rebuild(self, op, operands, attrs=None, states=None):
        if all(nv is v for nv, v in zip(operands, op.operands)) and attrs is None and \
                all(p == ident(r.type.rank) for r, p in zip(op.results, states or [ident(r.type.rank) for r in op.results])):
            return  # unchanged: the source op stays
        self.emit(op, operands, attrs_of(op) if attrs is None else attrs,
                  states or [ident(r.type.rank) for r in op.results])

    # -- the walk

    def run(self) -> bool:
        func = self.func
        if self.change_signature:
            self.change_args()
        for op in list(func.ops):
            self.anchor = op
            self.visit(op)
        self.anchor = func.ret
        self.finish_outputs()
        for op in reversed(self.replaced):
            if not self.rw.is_erased(op):
                self.rw.erase_op(op)
        self.consts.finish()
        return self.rw.commit() or self.touched

    def change_args(self):
        types = []
        for a in self.func.args:
            r = a.type.rank
            wants = 3 <= r <= 5 and a.uses and all(self.wants_channels_first(u, a) for u in a.uses)
            if wants:
                types.append(permuted(a.type, channels_first(r)))
                self.set(a, a, channels_first(r))
            else:
                types.append(a.type)
        if any(t != a.type for t, a in zip(types, self.func.args)):
            self.rw.set_signature(arg_types=types)
            self.touched = True

    @staticmethod
    def wants_channels_first(user, v) -> bool:
        if user.name == "nn.transpose":
            return tuple(user.attrs["perm"]) == channels_first(v.type.rank)
        opdef = OPS.get(user.name)
        return bool(opdef and opdef.spatial and attrs_of(user)["layout"] == "nhwc" and user.operands[0] is v)

    def finish_outputs(self):
        func = self.func
        new_types = list(func.result_types)
        for i, v in enumerate(list(func.outputs)):
            nv, p = self.get(v)
            r = v.type.rank
            if self.change_signature and 3 <= r <= 5 and p == channels_first(r):
                out = nv
                new_types[i] = nv.type
            else:
                out = self.materialize(v, ident(r))
            self.rw.set_operand(func.ret, i, out)
        if new_types != func.result_types:
            self.rw.set_signature(result_types=new_types)

    def visit(self, op):
        name = op.name
        if name in ("nn.param", "nn.constant") or any(v.type is None for v in op.operands):
            return
        opdef = OPS.get(name)
        a = attrs_of(op)
        if name == "nn.transpose":
            return self.visit_transpose(op, a)
        if opdef is not None and opdef.spatial and a.get("layout") == "nhwc":
            return self.visit_nhwc(op, a)
        if is_unary(op):
            nv, p = self.get(op.operands[0])
            return self.keep_or_rebuild(op, [nv], None if p == ident(op.operands[0].type.rank) else a, [p])
        if name in BINARY:
            return self.visit_binary(op, a)
        if name == "nn.linear":
            return self.visit_linear(op, a)
        if name in ("nn.flatten", "nn.reshape"):
            if self.visit_flatten(op, a):
                return
        elif opdef is not None and opdef.axis_attrs:
            return self.visit_axes(op, a, opdef)
        self.visit_other(op)

    def visit_other(self, op):
        operands = [self.materialize(v, ident(v.type.rank)) for v in op.operands]
        self.keep_or_rebuild(op, operands)

    def visit_transpose(self, op, a):
        x = op.operands[0]
        nv, p = self.get(x)
        if isinstance(p, FeatPerm):
            return self.visit_other(op)
        invq = inverse(a["perm"])
        self.set(op.result, nv, tuple(invq[d] for d in p))
        self.absorbed.add(id(op))
        self.replaced.append(op)
        self.touched = True

    def visit_nhwc(self, op, a):
        cf = channels_first(4)
        operands = [self.materialize(op.operands[0], cf)]
        for i, v in enumerate(op.operands[1:], 1):
            nv = self.materialize(v, ident(v.type.rank))
            if i == 1 and op.name in ("nn.conv2d", "nn.conv_transpose2d"):
                nv = self.permute(nv, WEIGHT_PERM, v.name)
            operands.append(nv)
        self.emit(op, operands, {**a, "layout": "nchw"}, [cf] * len(op.results))

    def visit_binary(self, op, a):
        out_rank = op.result.type.rank
        target = ident(out_rank)
        for v in op.operands:
            if not is_const(v) and v.type.rank == out_rank:
                p = self.get(v)[1]
                if p != ident(out_rank):
                    target = p
                    break
        if target != ident(out_rank) and any(not is_const(v) and v.type.rank != out_rank for v in op.operands):
            target = ident(out_rank)
        operands = []
        for v in op.operands:
            nv, p = self.get(v)
            if target == ident(out_rank) or (not is_const(v) and p == target):
                operands.append(self.materialize(v, target) if not is_const(v) else nv)
            elif is_const(v):
                arr = const_array(self.module, nv)
                arr = arr.reshape((1,) * (out_rank - arr.ndim) + arr.shape)
                operands.append(self.const_like(nv, np.ascontiguousarray(arr.transpose(target)), v.name))
            else:
                operands.append(self.materialize(v, target))
        self.keep_or_rebuild(op, operands, None if target == ident(out_rank) else a, [target])

    def visit_linear(self, op, a):
        x = op.operands[0]
        nv, p = self.get(x)
        rest = [self.materialize(v, ident(v.type.rank)) for v in op.operands[1:]]
        if isinstance(p, FeatPerm):
            w = const_array(self.module, rest[0])
            rest[0] = self.const_like(rest[0], np.ascontiguousarray(w[:, p.index]), op.operands[1].name)
            return self.emit(op, [nv] + rest, a, [ident(op.result.type.rank)])
        r = x.type.rank
        if p != ident(r) and p[-1] == r - 1:
            return self.emit(op, [nv] + rest, a, [p])
        self.keep_or_rebuild(op, [self.materialize(x, ident(r))] + rest)

    def visit_axes(self, op, a, opdef):
        x = op.operands[0]
        rank = x.type.rank
        if op.name == "nn.concat":
            target = next((self.get(v)[1] for v in op.operands if self.get(v)[1] != ident(rank)), ident(rank))
            if any(isinstance(self.get(v)[1], FeatPerm) for v in op.operands):
                return self.visit_other(op)
            operands = [self.materialize(v, target) for v in op.operands]
            p = target
        else:
            nv, p = self.get(x)
            if isinstance(p, FeatPerm):
                return self.visit_other(op)
            operands = [nv] + [self.materialize(v, ident(v.type.rank)) for v in op.operands[1:]]
        if p == ident(rank):
            return self.keep_or_rebuild(op, operands)
        inv = inverse(p)
        new = dict(a)
        for name in opdef.axis_attrs:
            val = a.get(name)
            if val is None:
                continue
            kind = opdef.attrs[name].kind
            if kind == "pairs":
                new[name] = [val[d] for d in p]
            elif kind == "ints":
                new[name] = [inv[ax % rank] for ax in val]
            else:
                new[name] = inv[val % rank]
        if op.name == "nn.layer_norm" and len(operands) > 1:
            old_sorted = sorted(ax % rank for ax in a["axes"])
            new_sorted = sorted(new["axes"])
            wperm = tuple(old_sorted.index(p[b]) for b in new_sorted)
            operands = [operands[0]] + [self.permute(v, wperm, v.name) for v in operands[1:]]
        res_rank = op.results[0].type.rank
        if res_rank == rank:
            rp = p
        else:
            removed = {ax % rank for ax in (a.get("axes") or [])}
            if rank - len(removed) != res_rank:
                return self.visit_other(op)
            rp = tuple(d - sum(1 for r in removed if r < d) for d in p if d not in removed)
        self.emit(op, operands, new, [rp] * len(op.results))

    # -- flatten

    def flatten_range(self, op, a):
        """(start, end) of the dims a flatten (or a flattening reshape) merges, or None."""
        x, r = op.operands[0].type, op.result.type
        if op.name == "nn.flatten":
            if x.rank == 0:
                return None
            return a["start_axis"] % x.rank, a["end_axis"] % x.rank
        k = r.rank - 1
        if r.rank >= x.rank or r.rank == 0 or r.shape[:k] != x.shape[:k]:
            return None
        tail = x.shape[k:]
        if None in tail or r.shape[-1] != prod(tail):
            return None
        unknown = sum(1 for i in range(k) if x.shape[i] is None and a["shape"][i] != 0)
        return (k, x.rank - 1) if unknown <= 1 else None

    def visit_flatten(self, op, a) -> bool:
        x = op.operands[0]
        nv, p = self.get(x)
        rank = x.type.rank
        if isinstance(p, FeatPerm) or p == ident(rank):
            return False
        rng = self.flatten_range(op, a)
        if rng is None:
            return False
        s, e = rng
        inv = inverse(p)
        pos = [inv[d] for d in range(s, e + 1)]
        if pos == list(range(pos[0], pos[0] + len(pos))):
            seq = []
            for i in range(rank):
                d = p[i]
                if s <= d <= e:
                    if i == pos[0]:
                        seq.append(s)
                else:
                    seq.append(d if d < s else d - (e - s))
            self.emit(op, [nv], {"start_axis": pos[0], "end_axis": pos[-1]}, [tuple(seq)], name="nn.flatten")
            return True
        if e == rank - 1 and all(p[i] == i for i in range(s)) and None not in x.type.shape[s:]:
            if not self.users_take_features(op.result):
                return False
            dims = [x.type.shape[d] for d in range(s, rank)]
            index = np.arange(prod(dims)).reshape(dims).transpose([p[i] - s for i in range(s, rank)]).reshape(-1)
            self.emit(op, [nv], {"start_axis": s, "end_axis": -1}, [FeatPerm(index)], name="nn.flatten")
            return True
        return False

    def users_take_features(self, v) -> bool:
        """Every user, through element-wise ops, is a linear (as input) with a constant weight."""
        if not v.uses or v in self.func.outputs:
            return False
        for u in v.uses:
            if u.name == "nn.linear":
                if u.operands[0] is not v or v in u.operands[1:] or not is_const(u.operands[1]):
                    return False
            elif is_unary(u):
                if not self.users_take_features(u.result):
                    return False
            else:
                return False
        return True
