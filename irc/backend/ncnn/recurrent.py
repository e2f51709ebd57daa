"""ncnn for recurrent layers (irc/ir/ops/recurrent.py): one ncnn LSTM/GRU/RNN layer per IR layer.

ncnn runs a sequence blob [T, features] (the batch of 1 dropped, batch-first or not) and returns [T, hidden *
directions], both directions in one layer (direction 2). Weights go to ncnn's layout per direction: LSTM gates
reordered from PyTorch's i,f,g,o to ncnn's i,f,o,g, the two biases summed ([4][hidden]); GRU keeps r,z,n with
biases (r and z summed, then n's input and hidden biases apart); RNN (tanh only) sums its biases. h_n is cut
from each layer's output sequence (the last step forward, the first step backward); initial states and an
LSTM's c_n are refused (ncnn's recurrent layers take them only one direction at a time).
"""

from __future__ import annotations

import numpy as np

from ...ir import IrcError, Op
from ...ir.layout import permutation
from ...ir.ops.recurrent import num_weights
from .emitter import Emitter, emits

KINDS = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}
GATES = {"lstm": 4, "gru": 3, "rnn": 1}
LSTM_GATES = permutation("ifgo", "ifog")  # PyTorch's gate blocks -> ncnn's


def _direction(kind: str, hidden: int, w_ih, w_hh, b_ih, b_hh) -> tuple:
    """(weight_xc, bias_c, weight_hc) of one direction in ncnn's layout."""
    gates = GATES[kind]
    b_ih = np.zeros(gates * hidden, np.float32) if b_ih is None else b_ih
    b_hh = np.zeros(gates * hidden, np.float32) if b_hh is None else b_hh
    if kind == "lstm":
        def order(arr: np.ndarray) -> np.ndarray:
            return arr.reshape(4, hidden, -1)[list(LSTM_GATES)].reshape(arr.shape)

        return order(w_ih), order(b_ih + b_hh), order(w_hh)
    if kind == "gru":
        bi, bh = b_ih.reshape(3, hidden), b_hh.reshape(3, hidden)
        bias = np.stack([bi[0] + bh[0], bi[1] + bh[1], bi[2], bh[2]])
        return w_ih, bias, w_hh
    return w_ih, b_ih + b_hh, w_hh


def _layer_weights(emitter: Emitter, op: Op, layer: int) -> list:
    a = op.attrs
    dirs = 2 if a["bidirectional"] else 1
    per = 4 if a["bias"] else 2
    parts: list = [[], [], []]
    for d in range(dirs):
        start = 1 + (layer * dirs + d) * per
        arrays = [emitter.weight(v, "recurrent weight") for v in op.operands[start:start + per]]
        arrays += [None] * (4 - per)
        for i, arr in enumerate(_direction(op.kind, a["hidden_size"], *arrays)):
            parts[i].append(np.ascontiguousarray(arr, dtype=np.float32))
    return [(np.stack(p), True) for p in parts]


def _check(emitter: Emitter, op: Op) -> None:
    a = op.attrs
    if len(op.operands) > 1 + num_weights(a):
        raise IrcError("initial states: ncnn's recurrent layers start from zeros here")
    if op.kind == "rnn" and a["nonlinearity"] != "tanh":
        raise IrcError("ncnn RNN is tanh only")
    if len(op.results) > 2 and op.results[2].uses:
        raise IrcError("an LSTM's final cell state c_n has no ncnn form here")
    x = op.operands[0]
    batch = 0 if a["batch_first"] else 1
    if x.type.rank != 3 or x.type.shape[batch] not in (1, None) or emitter.batch_axis(x) != batch:
        raise IrcError(f"ncnn runs one sequence [T, features]: %{x.name} : {x.type} is not one")


@emits(*KINDS)
def _recurrent(emitter: Emitter, op: Op) -> None:
    _check(emitter, op)
    a = op.attrs
    hidden, dirs = a["hidden_size"], 2 if a["bidirectional"] else 1
    out = op.results[0]
    emitter.batch[id(out)] = 0 if a["batch_first"] else 1
    top = emitter.out(op)
    cur, outputs = emitter.blob(op.operands[0]), []
    for k in range(a["num_layers"]):
        weights = _layer_weights(emitter, op, k)
        y = top if k == a["num_layers"] - 1 else emitter.tmp(top, f"l{k}")
        params = {0: hidden, 1: int(weights[0][0].size), 2: 2 if dirs == 2 else 0}
        emitter.layer(KINDS[op.kind], y, [cur], [y], params, weights)
        outputs.append(y)
        cur = y
    if len(op.results) > 1 and op.results[1].uses:
        _final_hidden(emitter, op, outputs)


def _final_hidden(emitter: Emitter, op: Op, outputs: list) -> None:
    """h_n [layers * directions, 1, hidden] from the output sequences: forward's last step, backward's first."""
    a = op.attrs
    hidden, steps = a["hidden_size"], op.operands[0].type.shape[1 if a["batch_first"] else 0]
    h = op.results[1]
    emitter.batch[id(h)] = 1
    top = emitter.out(op, 1)
    picks = [(k, y, d) for k, y in enumerate(outputs) for d in range(2 if a["bidirectional"] else 1)]
    parts = []
    for k, y, d in picks:
        row = steps - 1 if d == 0 else 0
        part = top if len(picks) == 1 else emitter.tmp(top, f"l{k}d{d}")
        emitter.layer("Crop", part, [y], [part], {9: [row, d * hidden], 10: [row + 1, (d + 1) * hidden], 11: [0, 1]})
        parts.append(part)
    if len(parts) > 1:
        emitter.layer("Concat", top, parts, [top], {0: 0})
