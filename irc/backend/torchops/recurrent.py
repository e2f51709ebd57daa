"""Torch expressions for recurrent layers (irc/ir/ops/recurrent.py): torch.lstm / torch.gru /
torch.rnn_tanh / torch.rnn_relu, the functions nn.LSTM/GRU/RNN call with their flat weights."""

from __future__ import annotations

from ...ir.ops.recurrent import num_weights
from .base import lower


def _parts(ctx, op):
    a = op.attrs
    n = num_weights(a)
    x = ctx.arg(0)
    weights = "[" + ", ".join(ctx.arg(1 + i) for i in range(n)) + "]"
    states = [ctx.arg(1 + n + i) for i in range(len(op.operands) - 1 - n)]
    dirs = 2 if a["bidirectional"] else 1
    if not states:  # zeros, as nn.LSTM makes them when no state is given
        zeros = (f"{x}.new_zeros(({a['num_layers'] * dirs}, {x}.shape[{0 if a['batch_first'] else 1}], "
                 f"{a['hidden_size']}))")
        states = [zeros] * (2 if op.kind == "lstm" else 1)
    tail = f"{a['bias']}, {a['num_layers']}, 0.0, False, {a['bidirectional']}, {a['batch_first']}"
    return x, states, weights, tail


@lower("lstm")
def lstm(ctx, op):
    x, (h, c), weights, tail = _parts(ctx, op)
    return f"torch.lstm({x}, ({h}, {c}), {weights}, {tail})"


@lower("gru")
def gru(ctx, op):
    x, (h,), weights, tail = _parts(ctx, op)
    return f"torch.gru({x}, {h}, {weights}, {tail})"


@lower("rnn")
def rnn(ctx, op):
    x, (h,), weights, tail = _parts(ctx, op)
    return f"torch.rnn_{op.attrs['nonlinearity']}({x}, {h}, {weights}, {tail})"
