"""ONNX for recurrent layers (irc/ir/ops/recurrent.py): one ONNX LSTM/GRU/RNN node per layer.

Both directions of a layer go in one node; the weights are reordered into ONNX's gate order and
[num_directions, ...] layout at emit time (new initializers; the IR's params are then not written), and
the outputs are brought back to PyTorch's layout.
"""

from __future__ import annotations

import numpy as np

from ...ir import IrcError, Op
from ...ir.dtypes import IR_TO_NP
from ...ir.layout import inverse, permutation
from .emitter import Emitter, emits

ONNX_KIND = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}
# PyTorch's gate blocks -> ONNX's: LSTM i,f,g,o -> i,o,f,c (c is PyTorch's g); GRU r,z,n -> z,r,h; RNN has one
GATE_ORDER = {"lstm": permutation("ifgo", "iofg"), "gru": permutation("rzn", "zrn"), "rnn": (0,)}
SEQ_FIRST = permutation("NTC", "TNC")  # batch-first input [batch, seq, features] -> ONNX's [seq, batch, features]
Y_TO_TORCH = permutation("TDNC", "TNDC")  # ONNX's Y [seq, dirs, batch, hidden] -> [seq, batch, dirs, hidden]


@emits(*ONNX_KIND)
def _recurrent(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    a = op.attrs
    dirs = 2 if a["bidirectional"] else 1
    per = 4 if a["bias"] else 2
    n = a["num_layers"] * dirs * per
    arrays = _weight_arrays(emitter, op, op.operands[1:1 + n])
    states = ins[1 + n:]
    out = outs[0]
    cur = ins[0]
    if a["batch_first"]:
        cur = emitter.transpose(cur, SEQ_FIRST, emitter.tmp(out, "seq_first"))
    hs, cs = [], []
    for k in range(a["num_layers"]):
        y, node_outs = _layer(emitter, op, cur, arrays[k * dirs * per:(k + 1) * dirs * per], states, k, out)
        hs.append(node_outs[1])
        if len(node_outs) > 2:
            cs.append(node_outs[2])
        # Y [seq, dirs, batch, hidden] -> [seq, batch, dirs * hidden]
        yt = emitter.transpose(y, Y_TO_TORCH, emitter.tmp(out, f"y_t_l{k}"))
        last = k == a["num_layers"] - 1 and not a["batch_first"]
        cur = emitter.node("Reshape", [yt, emitter.ints(out, f"y_shape_l{k}", [0, 0, dirs * a["hidden_size"]])],
                           out if last else emitter.tmp(out, f"seq_l{k}"))
    if a["batch_first"]:
        emitter.transpose(cur, inverse(SEQ_FIRST), out)
    for res, parts in zip(outs[1:], (hs, cs), strict=False):  # h, and c for an lstm
        if len(parts) == 1:
            emitter.node("Identity", parts, res)
        else:
            emitter.node("Concat", parts, res, axis=0)


def _weight_arrays(emitter: Emitter, op: Op, weights: list) -> list:
    store = emitter.module.weights
    arrays = []
    for w in weights:
        if w.owner is None or w.owner.name != "nn.param":
            raise IrcError(f"nn.{op.kind} weights must be params to be reordered for ONNX (got %{w.name})")
        arrays.append(np.asarray(store.numpy(w.owner.attrs["key"])))
    return arrays


def _gates(kind: str, arr: np.ndarray) -> np.ndarray:
    """A PyTorch weight or bias of stacked gate blocks, its blocks in ONNX's order."""
    order = GATE_ORDER[kind]
    blocks = np.split(arr, len(order), axis=0)
    return np.concatenate([blocks[i] for i in order], axis=0)


def _layer(emitter: Emitter, op: Op, x: str, chunk: list, states: list, layer: int, out: str) -> tuple:
    """The node of layer `layer`; returns (its Y, its outputs). chunk: the layer's PyTorch weights, per direction
    (weight_ih, weight_hh[, bias_ih, bias_hh])."""
    a, kind = op.attrs, op.kind
    dt = op.operands[0].type.dtype
    dirs = 2 if a["bidirectional"] else 1
    per = len(chunk) // dirs
    w = np.stack([_gates(kind, chunk[d * per]) for d in range(dirs)])
    r = np.stack([_gates(kind, chunk[d * per + 1]) for d in range(dirs)])
    node_ins = [x, emitter.init(f"{out}__W_l{layer}", w.astype(IR_TO_NP[dt]), dt),
                emitter.init(f"{out}__R_l{layer}", r.astype(IR_TO_NP[dt]), dt)]
    if a["bias"]:
        b = np.stack([np.concatenate([_gates(kind, chunk[d * per + 2]), _gates(kind, chunk[d * per + 3])])
                      for d in range(dirs)])
        node_ins.append(emitter.init(f"{out}__B_l{layer}", b.astype(IR_TO_NP[dt]), dt))
    else:
        node_ins.append("")
    node_ins.append("")  # sequence_lens: every sequence is full length
    for j, st in enumerate(states):  # this layer's rows of the initial states
        rows = [layer * dirs], [(layer + 1) * dirs]
        node_ins.append(emitter.slice(st, [0], *rows, emitter.tmp(out, f"state{j}_l{layer}")))
    while node_ins[-1] == "":
        node_ins.pop()
    y, yh = emitter.tmp(out, f"y_l{layer}"), emitter.tmp(out, f"h_l{layer}")
    node_outs = [y, yh] + ([emitter.tmp(out, f"c_l{layer}")] if kind == "lstm" else [])
    attrs = {"hidden_size": a["hidden_size"], "direction": "bidirectional" if a["bidirectional"] else "forward"}
    if kind == "gru":
        attrs["linear_before_reset"] = 1
    if kind == "rnn":
        attrs["activations"] = ["Relu" if a["nonlinearity"] == "relu" else "Tanh"] * dirs
    emitter.node(ONNX_KIND[kind], node_ins, node_outs, name=emitter.tmp(out, f"{kind}_l{layer}"), **attrs)
    return y, node_outs
