"""The layout passes: nhwc-to-nchw makes channel-last graphs channel-first, nchw-to-nhwc the reverse.

One converter does both: below, "source layout" is the one spatial ops are rewritten from (nhwc for
nhwc-to-nchw) and "target layout" the one they get. nhwc-to-nchw turns two kinds of input into the same NCHW
graph: spatial ops with `layout = "nhwc"`, and NCHW ops wrapped in transposes (TensorFlow/Keras models that
came through ONNX); nchw-to-nhwc turns a PyTorch/ONNX graph into the channel-last one Keras, TFLite and the
other mobile runtimes want, with the same machinery the other way round.

Generic: the pass asks the op definitions, never op names: the `transpose` trait, `spatial` ops with
their `weight_layout` (permuted with `irc.ir.layout.weight_perm`), the `unary` and `elementwise` traits,
`axis_attrs` (a variadic first operand: the axes apply to every operand), `params_per_axis`,
`last_dim_features`, and the `dim_map` / `merged_dims` rules. It creates nn.transpose, nn.reshape and
nn.flatten ops.

How it works: every value of the source graph is represented by a new value and a permutation P with
`new = old.permute(P)`. Walking the ops in order:

- a `transpose` emits nothing: it only changes P (so a transpose that meets its inverse cancels, and
  chains of them vanish);
- a spatial op in the source layout asks for its input in the target order (P = [0, 3, 1, 2] for
  nhwc-to-nchw, [0, 2, 3, 1] the other way) and becomes the target-layout op; conv weights are transposed at
  compile time with the op's `weight_layout` (HWIO ↔ OIHW, HWOI ↔ IOHW);
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
`{change-signature=true}`: then every rank 3..5 argument whose users want it in the target layout (spatial
ops in the source layout, or transposes to the target order) gets the target layout, and so does every result
the graph computes in it. Weights whose key only this op reads keep their key (see fuse-bn); others get a fresh one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir.core import Module, TensorType
from ..ir.layout import inverse, reorder, weight_perm
from ..ir.ops import OPS, OpDef, carried_dims
from ..ir.ops.registry import infer_types, prod
from ..ir.ops.shape import reshape_target
from ..ir.rewriter import Rewriter
from ._util import Consts, attrs_of, const_array, is_const
from .base import Pass, PassError

# the ops this pass creates
TRANSPOSE, RESHAPE, FLATTEN = "nn.transpose", "nn.reshape", "nn.flatten"


def ident(rank: int) -> tuple:
    return tuple(range(rank))


def permuted(t: TensorType, p: tuple) -> TensorType:
    return t.with_shape([t.shape[i] for i in p])


def permute_axis_attrs(opdef: OpDef, attrs: dict, p: tuple, rank: int) -> dict:
    """The op's attributes with every axis attribute rewritten for an operand permuted by p."""
    inv = inverse(p)
    new = dict(attrs)
    for name in opdef.axis_attrs:
        val = attrs[name]
        kind = opdef.attrs[name].kind
        if kind == "pairs":
            new[name] = [val[d] for d in p]
        elif kind == "ints":
            new[name] = [inv[ax % rank] for ax in val]
        else:
            new[name] = inv[val % rank]
    return new


def params_perm(old_axes: list, new_axes: list, p: tuple, rank: int) -> tuple:
    """How the per-axis params (trait params_per_axis) permute when the axes become new_axes."""
    old_sorted = sorted(ax % rank for ax in old_axes)
    return tuple(old_sorted.index(p[b]) for b in sorted(new_axes))


class FeatPerm:
    """State of a flattened value whose last dim holds the source's features in another order:
    new[..., k] = old[..., index[k]]."""

    def __init__(self, index: np.ndarray):
        self.index = index


@dataclass
class LayoutPass(Pass):
    """The shared body of nhwc-to-nchw and nchw-to-nhwc: `source` and `target` are the spatial layouts."""
    source = "nhwc"
    target = "nchw"
    change_signature: bool = False

    def apply(self, module: Module) -> bool:
        changed = False
        for func in module.funcs:
            changed |= _Converter(module, func, self.change_signature, self.source, self.target).run()
        return changed


class _Converter:
    def __init__(self, module, func, change_signature, source, target):
        self.module, self.func = module, func
        self.source, self.target = source, target  # the spatial layouts: rewrite `source` ops into `target` ones
        self.pass_name = f"{source}-to-{target}"
        self.change_signature = change_signature
        self.rw = Rewriter(func)
        self.consts = Consts(module, self.rw)
        self.m = {}  # id(source value) -> (new value, P or FeatPerm)
        self.cache = {}  # (id(new value), perm) -> permuted value
        self.replaced = []  # source ops replaced by new ones
        self.absorbed = set()  # ids of source transposes that became part of a state (no op has their name)
        self.anchor = None
        self.touched = False

    def want(self, rank: int) -> tuple | None:
        """P of a value in the target layout: channel-first for nhwc-to-nchw, channel-last the other way."""
        return reorder(self.source, self.target, rank)

    # -- state

    def get(self, v):
        return self.m.get(id(v), (v, ident(v.type.rank)))

    def set(self, v, nv, p):
        self.m[id(v)] = (nv, p)

    def materialize(self, v, target):
        """A value holding `v` (a source value) permuted by `target`."""
        nv, p = self.get(v)
        if isinstance(p, FeatPerm):
            raise PassError(f"{self.pass_name}: internal error: %{v.name} has permuted features")
        target = tuple(target)
        if p == target:
            return nv
        inv = inverse(p)
        q = tuple(inv[t] for t in target)
        back = target == ident(len(target)) and v.owner is not None and id(v.owner) in self.absorbed
        r = len(target)
        suffix = f"_{self.target}" if target == self.want(r) else f"_{self.source}" if (r == 4 and p == self.want(4)) \
            else "_t"
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
            op = self.rw.create(RESHAPE, [nv], {"shape": self.only_moves_ones(nv.type, q)},
                                [permuted(nv.type, q)], [name])
            if source is not None:
                self.rw.adopt_names([op.result], [source])
            self.rw.insert_before(self.anchor, op)
            out = op.result
        else:
            op = self.rw.create(TRANSPOSE, [nv], {"perm": list(q)}, [permuted(nv.type, q)], [name])
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
            raise PassError(f"{self.pass_name}: cannot rebuild {op.name} %{op.results[0].name}: {e}") from None
        new = self.rw.create(name, operands, attrs, types, [r.name for r in op.results], op.loc)
        self.rw.adopt_names(new, op)
        self.rw.insert_before(op, new)
        for r, nr, p in zip(op.results, new.results, states, strict=False):
            if not isinstance(p, FeatPerm) and nr.type != permuted(r.type, p):
                raise PassError(f"{self.pass_name}: internal error: %{r.name} became {nr.type}, expected "
                                f"{permuted(r.type, p)}")
            self.set(r, nr, p)
        self.replaced.append(op)
        self.touched = True
        return new

    def keep_or_rebuild(self, op, operands, attrs=None, states=None):
        states = states or [ident(r.type.rank) for r in op.results]
        if all(nv is v for nv, v in zip(operands, op.operands, strict=False)) and attrs is None and \
                all(p == ident(r.type.rank) for r, p in zip(op.results, states, strict=False)):
            return  # unchanged: the source op stays
        self.emit(op, operands, attrs_of(op) if attrs is None else attrs, states)

    # -- the walk

    def run(self) -> bool:
        func = self.func
        if self.change_signature:
            self.change_args()
        else:
            self.transpose_args_early()
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

    def transpose_args_early(self):
        """An argument that reaches a source-layout spatial op only through layout-agnostic ops (a pad, a
        rescaling) is transposed to the target layout once, at the function's entry, so those ops run in it and
        no transpose is left inside the graph."""
        if not self.func.ops:
            return
        for a in self.func.args:
            r = a.type.rank
            users = [OPS.get(u.name) for u in a.uses]
            if 3 <= r <= 5 and not any(d is None or d.has("transpose") for d in users) \
                    and not all(self.wants_target(u, a) for u in a.uses) \
                    and any(self.reaches_source(u, a) for u in a.uses):
                self.anchor = self.func.ops[0]
                self.set(a, self.permute(a, self.want(r), f"{a.name}_{self.target}"), self.want(r))

    def reaches_source(self, user, v, depth: int = 0) -> bool:
        """`v` flows into a source-layout spatial op's input through ops that keep its layout (unary and
        element-wise ops, and ops whose axes the pass rewrites, such as pad)."""
        opdef = OPS.get(user.name)
        if opdef is not None and opdef.spatial and user.attrs["layout"] == self.source and user.operands[0] is v:
            return True
        if opdef is None or depth > 8 or len(user.results) != 1 or user.results[0].type.rank != v.type.rank:
            return False
        if not (opdef.has("elementwise") or (opdef.axis_attrs and not opdef.rule("merged_dims"))):
            return False
        out = user.results[0]
        return any(self.reaches_source(u, out, depth + 1) for u in out.uses)

    def change_args(self):
        types = []
        for a in self.func.args:
            r = a.type.rank
            wants = 3 <= r <= 5 and a.uses and all(self.wants_target(u, a) or self.reaches_source(u, a)
                                                    for u in a.uses)
            if wants:
                types.append(permuted(a.type, self.want(r)))
                self.set(a, a, self.want(r))
            else:
                types.append(a.type)
        if any(t != a.type for t, a in zip(types, self.func.args, strict=False)):
            self.rw.set_signature(arg_types=types)
            self.touched = True

    def wants_target(self, user, v) -> bool:
        """`user` wants `v` in the target layout: a source-layout spatial op, or a transpose to the target order."""
        opdef = OPS.get(user.name)  # None for the function's return
        if opdef is None:
            return False
        if opdef.has("transpose"):
            return tuple(user.attrs["perm"]) == self.want(v.type.rank)
        return opdef.spatial and user.attrs["layout"] == self.source and user.operands[0] is v

    def finish_outputs(self):
        func = self.func
        new_types = list(func.result_types)
        for i, v in enumerate(list(func.outputs)):
            nv, p = self.get(v)
            r = v.type.rank
            if self.change_signature and 3 <= r <= 5 and p == self.want(r):
                out = nv
                new_types[i] = nv.type
            else:
                out = self.materialize(v, ident(r))
            self.rw.set_operand(func.ret, i, out)
        if new_types != func.result_types:
            self.rw.set_signature(result_types=new_types)

    def visit(self, op):
        if not op.operands or any(v.type is None for v in op.operands):
            return None  # params and constants: nothing to convert
        opdef = OPS[op.name]
        a = attrs_of(op)
        if opdef.has("transpose"):
            return self.visit_transpose(op, a)
        if opdef.spatial and a["layout"] == self.source:
            return self.visit_spatial(op, a, opdef)
        if opdef.has("unary"):
            nv, p = self.get(op.operands[0])
            return self.keep_or_rebuild(op, [nv], None if p == ident(op.operands[0].type.rank) else a, [p])
        if opdef.has("elementwise"):
            return self.visit_binary(op, a)
        if opdef.has("last_dim_features"):
            return self.visit_features(op, a)
        if opdef.rule("merged_dims") is not None:
            if not self.visit_flatten(op, opdef):
                self.visit_other(op)
            return None
        if opdef.axis_attrs:
            return self.visit_axes(op, a, opdef)
        return self.visit_other(op)

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

    def visit_spatial(self, op, a, opdef):
        order = self.want(op.operands[0].type.rank)
        operands = [self.materialize(op.operands[0], order)]
        for i, v in enumerate(op.operands[1:], 1):
            nv = self.materialize(v, ident(v.type.rank))
            if i == 1 and opdef.weight_layout:
                nv = self.permute(nv, weight_perm(opdef, self.source, self.target), v.name)
            operands.append(nv)
        self.emit(op, operands, {**a, "layout": self.target}, [order] * len(op.results))

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
                # the source's order (an operand of lower rank broadcasts as before), or already the target order
                order = ident(v.type.rank) if target == ident(out_rank) else target
                operands.append(nv if is_const(v) else self.materialize(v, order))
            elif is_const(v):
                arr = const_array(self.module, nv)
                arr = arr.reshape((1,) * (out_rank - arr.ndim) + arr.shape)
                operands.append(self.const_like(nv, np.ascontiguousarray(arr.transpose(target)), v.name))
            else:
                operands.append(self.materialize(v, target))
        self.keep_or_rebuild(op, operands, None if target == ident(out_rank) else a, [target])

    def visit_features(self, op, a):
        """An op on the features in operand 0's last dim (rows independent): it runs on a permuted operand
        whose last dim stayed last, and absorbs permuted features into its weight's dim 1."""
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
        rank = op.operands[0].type.rank
        got = self.axes_operands(op, opdef)
        if got is None:
            return self.visit_other(op)
        operands, p = got
        if p == ident(rank):
            return self.keep_or_rebuild(op, operands)
        rp = self.result_perm(op, p)
        if rp is None:
            return self.visit_other(op)
        new = permute_axis_attrs(opdef, a, p, rank)
        if opdef.has("params_per_axis") and len(operands) > 1:
            wperm = params_perm(a["axes"], new["axes"], p, rank)
            operands = [operands[0]] + [self.permute(v, wperm, v.name) for v in operands[1:]]
        return self.emit(op, operands, new, [rp] * len(op.results))

    def axes_operands(self, op, opdef):
        """(new operands, the P of operand 0) for an op with axis attributes; None when an operand holds
        permuted features. A variadic first operand (concat's): every operand gets the same P."""
        x = op.operands[0]
        rank = x.type.rank
        if opdef.operands[0].endswith("*"):
            states = [self.get(v)[1] for v in op.operands]
            if any(isinstance(p, FeatPerm) for p in states):
                return None
            target = next((p for p in states if p != ident(rank)), ident(rank))
            return [self.materialize(v, target) for v in op.operands], target
        nv, p = self.get(x)
        if isinstance(p, FeatPerm):
            return None
        return [nv] + [self.materialize(v, ident(v.type.rank)) for v in op.operands[1:]], p

    @staticmethod
    def result_perm(op, p):
        """The P of the results when operand 0 has P p: p itself at the same rank; else through the op's
        dim_map (the dims it keeps), or None when that does not account for every result dim."""
        res_rank = op.results[0].type.rank
        if res_rank == len(p):
            return p
        kept = carried_dims(op)
        if len(kept) != res_rank:
            return None
        where = {d: i for i, d in kept.items()}
        return tuple(where[d] for d in p if d in where)

    # -- flatten

    def visit_flatten(self, op, opdef) -> bool:
        """An op merging operand 0's dims s..e (rule merged_dims) as one nn.flatten on the permuted tensor: in
        place when the merged dims stay adjacent, else (trailing dims only) with permuted features."""
        x = op.operands[0]
        nv, p = self.get(x)
        rank = x.type.rank
        if isinstance(p, FeatPerm) or p == ident(rank):
            return False
        rng = opdef.rule("merged_dims")(op)
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
            self.emit(op, [nv], {"start_axis": pos[0], "end_axis": pos[-1]}, [tuple(seq)], name=FLATTEN)
            return True
        if e == rank - 1 and all(p[i] == i for i in range(s)) and None not in x.type.shape[s:]:
            if not self.users_take_features(op.result):
                return False
            dims = [x.type.shape[d] for d in range(s, rank)]
            index = np.arange(prod(dims)).reshape(dims).transpose([p[i] - s for i in range(s, rank)]).reshape(-1)
            self.emit(op, [nv], {"start_axis": s, "end_axis": -1}, [FeatPerm(index)], name=FLATTEN)
            return True
        return False

    def users_take_features(self, v) -> bool:
        """Every user, through unary ops, takes v as its features (last_dim_features) with a constant weight."""
        if not v.uses or v in self.func.outputs:
            return False
        for u in v.uses:
            if OPS[u.name].has("last_dim_features"):
                if u.operands[0] is not v or v in u.operands[1:] or not is_const(u.operands[1]):
                    return False
            elif OPS[u.name].has("unary"):
                if not self.users_take_features(u.result):
                    return False
            else:
                return False
        return True
