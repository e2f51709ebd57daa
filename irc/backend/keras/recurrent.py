"""Keras for recurrent ops (irc/ir/ops/recurrent.py): one layer of nn.lstm / nn.gru / nn.rnn is an LSTM / GRU /
SimpleRNN (a Bidirectional one around it when bidirectional), returning sequences and states.

The IR keeps PyTorch's weights: weight_ih [G*H, in], weight_hh [G*H, H] in PyTorch's gate order. Keras wants
kernel [in, G*H] and recurrent_kernel [H, G*H] in its own order: LSTM's i, f, g, o are Keras' i, f, c, o; GRU's
r, z, n become z, r, h (reset_after=True is PyTorch's GRU, with its two biases as Keras' [2, 3H] bias); LSTM and
SimpleRNN add their two biases into Keras' one.
"""

from __future__ import annotations

import numpy as np

from ...ir import Op
from .emitter import KerasEmitter, NotEmittable, emits

# IR op -> (Keras layer, Keras' gate blocks as indices into PyTorch's order)
LAYERS = {"lstm": ("LSTM", [0, 1, 2, 3]), "gru": ("GRU", [1, 0, 2]), "rnn": ("SimpleRNN", [0])}


def _keras_gates(arr: np.ndarray, order: list[int]) -> np.ndarray:
    """A PyTorch [G*H, ...] weight as Keras' [..., G*H] in Keras' gate order."""
    blocks = np.split(arr, len(order), axis=0)
    return np.ascontiguousarray(np.concatenate([blocks[i] for i in order], axis=0).T)


def _direction(arrays: list[np.ndarray], kind: str, order: list[int]) -> list[np.ndarray]:
    """kernel, recurrent_kernel (and bias) of one direction from weight_ih, weight_hh (bias_ih, bias_hh)."""
    out = [_keras_gates(arrays[0], order), _keras_gates(arrays[1], order)]
    if len(arrays) == 4:
        b_ih, b_hh = (_keras_gates(b[:, None], order)[0] for b in arrays[2:])
        out.append(np.stack([b_ih, b_hh]) if kind == "gru" else b_ih + b_hh)
    return out


def _check(op: Op) -> None:
    attrs = op.attrs
    if attrs["num_layers"] != 1:
        raise NotEmittable(f"{attrs['num_layers']} stacked layers in one op (run merge-recurrent-layers' inverse)")
    if len(op.operands) != 1 + (4 if attrs["bias"] else 2) * (2 if attrs["bidirectional"] else 1):
        raise NotEmittable("initial states (h0/c0) are not supported")
    if not attrs["batch_first"]:
        raise NotEmittable("batch_first=false (Keras' recurrent layers are batch-first)")


@emits("lstm", "gru", "rnn")
def recurrent(emitter: KerasEmitter, op: Op) -> None:
    _check(op)
    kind = op.kind
    layer, order = LAYERS[kind]
    attrs = op.attrs
    per_dir = 4 if attrs["bias"] else 2
    arrays = [emitter.weight(v) for v in op.operands[1:]]
    weights = []
    for d in range(2 if attrs["bidirectional"] else 1):
        weights += _direction(arrays[d * per_dir:(d + 1) * per_dir], kind, order)
    args = [str(attrs["hidden_size"]), f"use_bias={attrs['bias']}", "return_sequences=True"]
    if kind == "gru":
        args.append("reset_after=True")
    if kind == "rnn":
        args.append(f"activation={attrs['nonlinearity']!r}")
    x = emitter.tensor(op.operands[0])
    states = 2 if kind == "lstm" else 1
    dirs = 2 if attrs["bidirectional"] else 1
    read = any(r.uses for r in op.results[1:])
    if read:
        args.append("return_state=True")
    count = 1 + states * dirs if read else 1
    if attrs["bidirectional"]:
        inner = f"keras.layers.{layer}({', '.join(args)})"
        outs = emitter.layer(op, "Bidirectional", [inner, "merge_mode='concat'"], x, weights, targets=count)
    else:
        outs = emitter.layer(op, layer, args, x, weights, targets=count)
    if read:
        _final_states(emitter, op, outs[1:], states, dirs)


def _final_states(emitter: KerasEmitter, op: Op, outs: list[str], states: int, dirs: int) -> None:
    """h_n (and c_n) [dirs, batch, hidden] from Keras' per-direction states [batch, hidden] (forward's first)."""
    for i, result in enumerate(op.results[1:1 + states]):
        parts = [outs[d * states + i] for d in range(dirs)]
        if dirs == 1:
            rhs, auto = f"keras.ops.expand_dims({parts[0]}, 0)", "expand_dims"
        else:
            rhs, auto = f"keras.ops.stack([{', '.join(parts)}], axis=0)", "stack"
        emitter.bind(result, emitter.assign(result.name, rhs, auto))
