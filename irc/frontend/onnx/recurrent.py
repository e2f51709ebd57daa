"""LSTM, GRU, RNN → nn.lstm, nn.gru, nn.rnn (one layer each; the `merge-recurrent-layers` pass joins them).

- Weights are re-split per direction into PyTorch's gate order (ONNX LSTM i,o,f,c → i,f,g,o; GRU z,r,h →
  r,z,n) and Y is brought to ONNX's [seq, dirs, batch, H].
- Initial states that are zeros (a constant, or what torch.onnx.export writes for nn.LSTM's default
  state over a dynamic batch: ConstantOfShape of a shape read from the input, then Slice) are left
  out of the IR op: absent means zeros, as in PyTorch.
- Keys: layer k of module `m` gets `m.weight_ih_l{k}` ..., k counting the recurrent nodes of that
  module, so what torch.onnx.export writes for a stacked nn.LSTM (one node per layer, all under
  `/lstm/`) imports under the nn.LSTM's own state_dict keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...ir import Value
from ...ir.ops import OPS
from ..core import Unsupported
from .tables import imports
from .values import Const, ImportValue

if TYPE_CHECKING:
    from onnx import NodeProto

    from ...ir import WeightStore
    from .importer import OnnxImporter

# ONNX gate blocks -> PyTorch's: LSTM i,o,f,c -> i,f,g(=c),o; GRU z,r,h -> r,z,n(=h)
TORCH_GATES = {"LSTM": [0, 2, 3, 1], "GRU": [1, 0, 2], "RNN": [0]}
DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}
# ops a zero state passes through unchanged in value (still zeros)
_ZERO_PRESERVING = ("slice", "expand", "expand_like", "reshape", "transpose", "cast", "squeeze", "unsqueeze",
                    "identity")


def zero_state(x: ImportValue, store: WeightStore | None = None) -> bool:
    """A Const of zeros, or a Value that is a zeros literal (an nn.constant, or an nn.param in `store`)
    broadcast, sliced or reshaped."""
    if isinstance(x, Const):
        return x.array.size > 0 and not np.any(x.array)
    v = x
    while isinstance(v, Value) and v.owner is not None and v.owner.kind in _ZERO_PRESERVING:
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


def module_base(importer: OnnxImporter, node: NodeProto) -> str:
    """The module path a recurrent node's weights go under: its name scope, without the `__<what>` of irc's own
    helper names (irc writes layer k of `%lstm` as a node with output `lstm__y_l{k}`)."""
    base = importer.base_name(node)
    return base.split("__", 1)[0] or base


def layer_index(importer: OnnxImporter, base: str) -> int:
    """The layer number of this recurrent node within module `base`: how many came before it."""
    k = importer.recurrent_layers.get(base, 0)
    importer.recurrent_layers[base] = k + 1
    return k


def _check_supported(importer, node, dirs: int) -> str:
    """Unsupported for what PyTorch's modules cannot express; returns RNN's nonlinearity."""
    acts = importer.attr("activations")
    nonlin = "tanh"
    if node.op_type == "RNN":
        acts = acts or ["Tanh"] * dirs
        if len(set(acts)) != 1 or acts[0] not in ("Tanh", "Relu"):
            raise Unsupported(f"RNN activations {acts}")
        nonlin = acts[0].lower()
    elif acts is not None and list(acts) != DEFAULT_ACTIVATIONS[node.op_type] * dirs:
        raise Unsupported(f"{node.op_type} activations {acts}")
    if importer.attr("clip") is not None or importer.attr("input_forget", 0):
        raise Unsupported("clip / input_forget")
    if node.op_type == "GRU" and not importer.attr("linear_before_reset", 0):
        raise Unsupported("GRU with linear_before_reset=0 (PyTorch's GRU resets after the hidden matmul)")
    if importer.inp(4) is not None or (node.op_type == "LSTM" and importer.inp(7) is not None):
        raise Unsupported("sequence_lens or peephole weights")
    return nonlin


def _weights(importer, node, base: str, dirs: int, hidden: int) -> tuple[list[Value], bool]:
    """The per-direction weight params in PyTorch's gate order and names; and whether there are biases."""
    w, r = importer.const(1, "W"), importer.const(2, "R")
    b = importer.const(3, "B")
    order = TORCH_GATES[node.op_type]
    g = len(order)

    def torch_gates(arr):
        blocks = np.split(arr, g, axis=0)
        return np.ascontiguousarray(np.concatenate([blocks[i] for i in order], axis=0))

    layer = layer_index(importer, base)
    params = []
    for d in range(dirs):
        suffix = "_reverse" if d else ""
        parts = [("weight_ih", torch_gates(w[d])), ("weight_hh", torch_gates(r[d]))]
        if b is not None:
            parts += [("bias_ih", torch_gates(b[d][:g * hidden])), ("bias_hh", torch_gates(b[d][g * hidden:]))]
        for name, arr in parts:
            params.append(importer.new_param(f"{base}.{name}_l{layer}{suffix}", arr))
    return params, b is not None


def _initial_states(importer, node, batch_first: bool) -> list[Value]:
    """The initial state operands, [] when they are zeros (PyTorch's default)."""
    lstm = node.op_type == "LSTM"
    states = [importer.inp(5)] + ([importer.inp(6)] if lstm else [])
    if not any(st is not None and not zero_state(st, importer.store) for st in states):
        return []
    if lstm and None in states:
        raise Unsupported("LSTM with only one of initial_h / initial_c")
    values = [importer.val(5)] + ([importer.val(6)] if lstm else [])
    if not batch_first:
        return values
    return [importer.emit("transpose", [st], {"perm": [1, 0, 2]}) for st in values]


@imports("LSTM", "GRU", "RNN")
def _recurrent(importer, node):
    """One ONNX recurrent node (one layer, forward or bidirectional) as nn.lstm/gru/rnn with num_layers=1,
    weights re-split per direction into PyTorch's gate order; Y is brought to ONNX's [seq, dirs, batch, H]."""
    kind = node.op_type.lower()
    if "nn." + kind not in OPS:
        raise Unsupported(f"this irc has no nn.{kind} op")
    x = importer.val(0)
    direction = importer.attr("direction", "forward")
    if direction not in ("forward", "bidirectional"):
        raise Unsupported(f"direction '{direction}'")
    dirs = 2 if direction == "bidirectional" else 1
    hidden = importer.attr("hidden_size")
    nonlin = _check_supported(importer, node, dirs)
    base = module_base(importer, node)
    params, bias = _weights(importer, node, base, dirs, hidden)
    batch_first = bool(importer.attr("layout", 0))
    operands = [x] + params + _initial_states(importer, node, batch_first)
    attrs = {"hidden_size": hidden, "bidirectional": dirs == 2, "batch_first": batch_first, "bias": bias}
    if node.op_type == "RNN":
        attrs["nonlinearity"] = nonlin
    res = importer.emit(kind, operands, attrs, name=base + "_seq", nresults=True)
    y = importer.emit("reshape", [res[0]], {"shape": [0, 0, dirs, hidden]}, name=base + "_y")
    if not batch_first:  # ONNX: [seq, dirs, batch, hidden]
        y = importer.emit("transpose", [y], {"perm": [0, 2, 1, 3]})
        return [y] + list(res[1:])
    return [y] + [importer.emit("transpose", [st], {"perm": [1, 0, 2]}) for st in res[1:]]  # [batch, dirs, H]
