"""fuse-bn: fold inference batch_norm into an adjacent conv2d / conv_transpose2d / linear.

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

from ..ir.core import fuse_locs
from ..ir.rewriter import Rewriter
from ._util import Consts, attrs_of, const_array
from .base import Pass

FUSABLE = ("nn.conv2d", "nn.conv_transpose2d", "nn.linear")


def _shared_layout(bn, op, between):
    """The layout BN and op agree on, or None: a linear pairs only with an nchw BN over a [N, C] tensor."""
    bn_layout = attrs_of(bn)["layout"]
    if op.name == "nn.linear":
        return "nchw" if bn_layout == "nchw" and between.type.rank == 2 else None
    return bn_layout if attrs_of(op)["layout"] == bn_layout else None


def _canon(w, kind, layout):
    """Weight as OIHW (conv2d) / IOHW (conv_transpose2d) / [O, I] (linear)."""
    return w.transpose(3, 2, 0, 1) if kind != "nn.linear" and layout == "nhwc" else w


def _uncanon(w, kind, layout):
    return w.transpose(2, 3, 1, 0) if kind != "nn.linear" and layout == "nhwc" else w


@dataclass
class FuseBatchNorm(Pass):
    name = "fuse-bn"
    summary = ("fold inference batch_norm into the conv2d/conv_transpose2d/linear before it (or, where exact, "
               "after it); one biased op remains")
    keep_names: bool = True

    def apply(self, module) -> bool:
        changed = False
        for func in module.funcs:
            while True:  # again after a fusion: a BN before a BN that fused can now be adjacent to the op
                rw = Rewriter(func)
                consts = Consts(module, rw)
                for bn in list(func.ops):
                    if bn.name != "nn.batch_norm" or rw.is_erased(bn):
                        continue
                    if not self._fuse_after(module, rw, consts, bn):
                        self._fuse_before(module, rw, consts, bn)
                consts.finish()
                if not rw.commit():
                    break
                changed = True
        return changed

    # -- helpers

    def _bn_scale_shift(self, module, bn):
        arrs = [const_array(module, v) for v in bn.operands[1:]]
        if any(a is None for a in arrs):
            return None
        gamma, beta, mean, var = (a.astype(np.float64) for a in arrs)
        s = gamma / np.sqrt(var + attrs_of(bn)["epsilon"])
        return s, beta - mean * s

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
        wkey = wv.owner.attrs["key"]
        key = wkey[: -len("weight")] + "bias" if wkey.endswith("weight") else wkey + ".bias"
        name = wv.name[: -len("weight")] + "bias" if wv.name.endswith("weight") else wv.name + ".bias"
        return consts.new(anchor, bias, dtype, name, key, inline=False)

    def _emit(self, rw, consts, op, x, w, b, loc):
        kind = op.name
        dtype = op.result.type.dtype
        nw = consts.replace(op, op.operands[1], w.astype(np.float64), keep_key=self.keep_names)
        nb = self._new_bias(consts, op, op, b, dtype)
        return rw.rebuild(op, operands=[x, nw, nb], attrs=attrs_of(op), loc=loc, name=kind)

    # -- BN after conv/linear

    def _fuse_after(self, module, rw, consts, bn) -> bool:
        x = bn.operands[0]
        op = x.owner
        if op is None or op.name not in FUSABLE or len(x.uses) != 1 or rw.is_erased(op):
            return False
        oattrs = attrs_of(op)
        layout = _shared_layout(bn, op, x)
        if layout is None:
            return False
        st, ww = self._bn_scale_shift(module, bn), self._weights(module, op)
        if st is None or ww is None:
            return False
        (s, t), (w, b) = st, ww
        wc = _canon(w, op.name, layout)
        if op.name == "nn.conv_transpose2d":
            g = oattrs["groups"]
            cin, cg = wc.shape[0], wc.shape[1]
            wc = (wc.reshape(g, cin // g, cg, *wc.shape[2:]) * s.reshape(g, 1, cg, 1, 1)).reshape(wc.shape)
        else:
            wc = wc * s.reshape((-1,) + (1,) * (wc.ndim - 1))
        b = np.zeros_like(s) if b is None else b.astype(np.float64)
        new = self._emit(rw, consts, op, op.operands[0], _uncanon(wc, op.name, layout), b * s + t,
                         fuse_locs(op.loc, bn.loc))
        params = list(bn.operands[1:])
        rw.replace_op(bn, new.results)
        self._drop_dead_params(rw, params)
        return True

    def _drop_dead_params(self, rw, values):
        for v in values:
            if v.owner is not None and v.owner.name in ("nn.param", "nn.constant") and not v.uses \
                    and not rw.is_erased(v.owner):
                rw.erase_op(v.owner)

    # -- BN before conv/linear

    def _fuse_before(self, module, rw, consts, bn) -> bool:
        y = bn.result
        if len(y.uses) != 1:
            return False
        op = y.uses[0]
        if op.name not in ("nn.conv2d", "nn.linear") or op.operands[0] is not y or y in op.operands[1:]:
            return False
        oattrs = attrs_of(op)
        layout = _shared_layout(bn, op, y)
        if layout is None or (op.name != "nn.linear" and any(p for pair in oattrs["padding"] for p in pair)):
            return False
        st, ww = self._bn_scale_shift(module, bn), self._weights(module, op)
        if st is None or ww is None:
            return False
        (s, t), (w, b) = st, ww
        wc = _canon(w, op.name, layout)
        cout, ig = wc.shape[0], wc.shape[1]
        g = oattrs.get("groups", 1)
        # input channel seen by (o, i): (o // (cout / g)) * ig + i
        idx = (np.arange(cout) // (cout // g))[:, None] * ig + np.arange(ig)[None, :]
        shape = (cout, ig) + (1,) * (wc.ndim - 2)
        b = np.zeros(cout) if b is None else b.astype(np.float64)
        nb = b + (wc * t[idx].reshape(shape)).reshape(cout, -1).sum(axis=1)
        wc = wc * s[idx].reshape(shape)
        self._emit(rw, consts, op, bn.operands[0], _uncanon(wc, op.name, layout), nb,
                         fuse_locs(bn.loc, op.loc))
        params = list(bn.operands[1:])
        rw.erase_op(bn)
        self._drop_dead_params(rw, params)
        return True
