"""Helpers for importing ONNX LSTM / GRU / RNN nodes (the handler is `_recurrent` in onnx.py).

- Initial states that are zeros (a constant, or what torch.onnx.export writes for nn.LSTM's default
  state over a dynamic batch: ConstantOfShape of a shape read from the input, then Slice) are left
  out of the IR op: absent means zeros, as in PyTorch. ConstantOfShape over dynamic dims imports as
  nn.expand_like of a one-element constant (dead, and dropped, when only a recurrent node read it).
- Keys: layer k of module `m` gets `m.weight_ih_l{k}` ..., k counting the recurrent nodes of that
  module, so what torch.onnx.export writes for a stacked nn.LSTM (one node per layer, all under
  `/lstm/`) imports under the nn.LSTM's own state_dict keys. Each layer stays its own op.
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


__all__ = ["layer_index", "zero_state"]
