"""fuse-bn: fold inference batch_norm into an adjacent conv2d / conv_transpose2d / linear.

Generic: the affine op is any op with the `per_channel_affine` trait (its `channel_affine` rule gives
s and t), the weighted op any op with the `channel_weights` trait, and BN-before fusion needs
`input_shift_folds` too; weights are brought to their nchw form ([O, I] without `weight_layout`) with
`irc.ir.layout.weight_perm`.

With s = gamma / sqrt(var + eps) and t = beta - mean * s (per channel):

- **BN after the op** (conv2d, conv_transpose2d, linear; the op's result used by the BN only):
  W'[out channel o] = W[o] * s[o], b' = b * s + t. Exact for every stride/padding/group/dilation.
- **BN before the op** (the BN's result used by that op only): W'[.., in channel c, ..] = W * s[c] and
  b'[o] = b[o] + Σ W[o, c, kh, kw] · t[c]. Exact only when every output sees the shifted input through
  every kernel tap, so: conv2d with no padding (zero padding would pad the *normalised* tensor with 0,
  which the fused op cannot reproduce), or linear over a rank-2 input. conv_transpose2d is never fused
  this way (border outputs receive fewer taps than interior ones).

Layouts must agree (an nhwc BN with an nhwc conv, whose weight is HWIO); a linear fuses only with a BN
over axis 1 of a rank-2 tensor (BatchNorm1d on [N, C]). All weights must be params or constants.

Weights and keys (`keep-names`, default true): the fused weight (and bias, if the op had one) replaces
the op's own tensor *under the same key* when no other op reads that key, so the written weight file
and the emitted state_dict look like the same network with a biased conv/linear and no BN keys
(`conv1.weight`, `conv1.bias`). A new bias takes the weight's key with `weight` → `bias`
(`conv1.bias`), made unique. With `keep-names=false`, every fused tensor gets a fresh key instead
(`conv1.weight_1`), so no key of the source file changes meaning. The fused op keeps the conv's/linear's
value name and has location `fused[conv loc, bn loc]`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir.core import Module, Op, Value, fuse_locs
from ..ir.layout import weight_perm
from ..ir.ops import OPS, OpDef
from ..ir.rewriter import Rewriter
from ._util import Consts, attrs_of, const_array, is_const
from .base import Pass


def _channel_layout(affine: Op) -> str:
    return affine.attrs["layout"] if OPS[affine.name].spatial else "nchw"


def _shared_layout(affine: Op, op: Op, between: Value) -> str | None:
    """The layout the affine op and `op` agree on, or None: an op without a layout (linear) pairs only with
    an nchw affine op over a [N, C] tensor."""
    layout = _channel_layout(affine)
    if not OPS[op.name].spatial:
        return "nchw" if layout == "nchw" and between.type.rank == 2 else None
    return layout if op.attrs["layout"] == layout else None


def _weight_letters(opdef: OpDef) -> str:
    """The weight's dims in its nchw form: "OIHW", "IOHW", or "OI" for an op without `weight_layout`."""
    return opdef.weight_layout["nchw"] if opdef.weight_layout else "OI"


def _to_nchw(w: np.ndarray, opdef: OpDef, layout: str) -> np.ndarray:
    return w if opdef.weight_layout is None or layout == "nchw" else w.transpose(weight_perm(opdef, layout, "nchw"))


def _from_nchw(w: np.ndarray, opdef: OpDef, layout: str) -> np.ndarray:
    return w if opdef.weight_layout is None or layout == "nchw" else w.transpose(weight_perm(opdef, "nchw", layout))


def _groups(op: Op) -> int:
    return op.attrs["groups"] if "groups" in OPS[op.name].attrs else 1


def _padded(op: Op) -> bool:
    return "padding" in op.attrs and any(p for pair in op.attrs["padding"] for p in pair)


def channel_index(letters: str, letter: str, shape: tuple, groups: int) -> np.ndarray:
    """For each (dim 0, dim 1) position of an nchw-form weight, the channel of kind `letter` ("O" or "I") it
    belongs to: dim 0 counts all channels of its kind, dim 1 those of one group."""
    n0, n1 = shape[0], shape[1]
    i0 = np.arange(n0)[:, None]
    if letters[0] == letter:
        return np.broadcast_to(i0, (n0, n1))
    return (i0 // (n0 // groups)) * n1 + np.arange(n1)[None, :]


def _bias_name(weight: str) -> str:
    """The bias beside a weight: `conv.weight` -> `conv.bias` (PyTorch, any `...weight` suffix as before),
    `c1/kernel` -> `c1/bias` and `s/pointwise_kernel` -> `s/pointwise_bias` (Keras); any other name gets a
    `.bias` segment of its own."""
    if weight.endswith("weight"):
        return weight[: -len("weight")] + "bias"
    head, sep, last = weight.rpartition("/")
    if sep and last.endswith("kernel"):  # Keras: `c1/kernel` -> `c1/bias`, `s/pointwise_kernel` -> `s/pointwise_bias`
        return f"{head}/{last[: -len('kernel')]}bias"
    return weight + ".bias"


@dataclass
class FuseBatchNorm(Pass):
    name = "fuse-bn"
    summary = ("fold inference batch_norm into the conv2d/conv_transpose2d/linear before it (or, where exact, "
               "after it); one biased op remains")
    keep_names: bool = True

    def apply(self, module: Module) -> bool:
        changed = False
        for func in module.funcs:
            while True:  # again after a fusion: a BN before a BN that fused can now be adjacent to the op
                rw = Rewriter(func)
                consts = Consts(module, rw)
                for affine in list(func.ops):
                    if not OPS[affine.name].has("per_channel_affine") or rw.is_erased(affine):
                        continue
                    if not self._fuse_after(module, rw, consts, affine):
                        self._fuse_before(module, rw, consts, affine)
                consts.finish()
                if not rw.commit():
                    break
                changed = True
        return changed

    # -- helpers

    def _scale_shift(self, module, affine):
        arrs = [const_array(module, v) for v in affine.operands[1:]]
        if any(a is None for a in arrs):
            return None
        return OPS[affine.name].rule("channel_affine")(arrs, affine.attrs)

    def _weights(self, module, op):
        w = const_array(module, op.operands[1])
        if w is None or op.operands[1].owner.name != "nn.param":
            return None
        b = None
        if len(op.operands) > 2:
            b = const_array(module, op.operands[2])
            if b is None:
                return None
        return w.astype(np.float64), b

    def _new_bias(self, consts, anchor, op, bias, dtype):
        wv = op.operands[1]
        if len(op.operands) > 2 and op.operands[2].owner.name == "nn.param":
            return consts.replace(anchor, op.operands[2], bias, keep_key=self.keep_names)
        return consts.new(anchor, bias, dtype, _bias_name(wv.name), _bias_name(wv.owner.attrs["key"]), inline=False)

    def _emit(self, rw, consts, op, x, w, b, loc):
        dtype = op.result.type.dtype
        nw = consts.replace(op, op.operands[1], w.astype(np.float64), keep_key=self.keep_names)
        nb = self._new_bias(consts, op, op, b, dtype)
        return rw.rebuild(op, operands=[x, nw, nb], attrs=attrs_of(op), loc=loc)

    def _drop_dead_params(self, rw, values):
        for v in values:
            if is_const(v) and not v.uses and not rw.is_erased(v.owner):
                rw.erase_op(v.owner)

    def _inputs(self, module, affine, op, between):
        """(layout, (s, t), (w, b)) when the pair can fuse as far as layouts and constants go, else None."""
        layout = _shared_layout(affine, op, between)
        if layout is None:
            return None
        st, ww = self._scale_shift(module, affine), self._weights(module, op)
        if st is None or ww is None:
            return None
        return layout, st, ww

    # -- BN after conv/linear

    def _fuse_after(self, module, rw, consts, affine) -> bool:
        x = affine.operands[0]
        op = x.owner
        if op is None or not OPS[op.name].has("channel_weights") or len(x.uses) != 1 or rw.is_erased(op):
            return False
        found = self._inputs(module, affine, op, x)
        if found is None:
            return False
        layout, (s, t), (w, b) = found
        opdef = OPS[op.name]
        wc = _to_nchw(w, opdef, layout)
        scale = s[channel_index(_weight_letters(opdef), "O", wc.shape, _groups(op))]
        wc = wc * scale.reshape(wc.shape[:2] + (1,) * (wc.ndim - 2))
        b = np.zeros_like(s) if b is None else b.astype(np.float64)
        new = self._emit(rw, consts, op, op.operands[0], _from_nchw(wc, opdef, layout), b * s + t,
                         fuse_locs(op.loc, affine.loc))
        params = list(affine.operands[1:])
        rw.replace_op(affine, new.results)
        self._drop_dead_params(rw, params)
        return True

    # -- BN before conv/linear

    def _fuse_before(self, module, rw, consts, affine) -> bool:
        y = affine.result
        if len(y.uses) != 1:
            return False
        op = y.uses[0]
        opdef = OPS.get(op.name)  # None for the function's return
        if (opdef is None or not opdef.has("input_shift_folds") or op.operands[0] is not y
                or y in op.operands[1:] or _padded(op)):
            return False
        found = self._inputs(module, affine, op, y)
        if found is None:
            return False
        layout, (s, t), (w, b) = found
        wc = _to_nchw(w, opdef, layout)
        cout, ig = wc.shape[0], wc.shape[1]
        idx = channel_index(_weight_letters(opdef), "I", wc.shape, _groups(op))
        shape = (cout, ig) + (1,) * (wc.ndim - 2)
        b = np.zeros(cout) if b is None else b.astype(np.float64)
        nb = b + (wc * t[idx].reshape(shape)).reshape(cout, -1).sum(axis=1)
        wc = wc * s[idx].reshape(shape)
        self._emit(rw, consts, op, affine.operands[0], _from_nchw(wc, opdef, layout), nb, fuse_locs(affine.loc, op.loc))
        params = list(affine.operands[1:])
        rw.erase_op(affine)
        self._drop_dead_params(rw, params)
        return True
