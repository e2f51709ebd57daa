"""Recurrent layers (irc/ir/ops/recurrent.py): torch.lstm / torch.gru / torch.rnn_tanh / torch.rnn_relu,
the functions nn.LSTM/GRU/RNN call with their flat weights, and those modules."""

from __future__ import annotations

from ...ir.core import Op
from ...ir.ops.recurrent import STATES, num_weights
from .base import Ctx, call, ctor_keywords, emits, module_form


def _states(ctx: Ctx, op: Op) -> list[str]:
    """The initial states: the operands after the weights, or zeros as nn.LSTM makes them."""
    attrs = op.attrs
    first = 1 + num_weights(attrs)
    given = [ctx.arg(i) for i in range(first, len(op.operands))]
    if given:
        return given
    x, layers = ctx.arg(0), attrs["num_layers"] * (2 if attrs["bidirectional"] else 1)
    zeros = f"{x}.new_zeros(({layers}, {x}.shape[{0 if attrs['batch_first'] else 1}], {attrs['hidden_size']}))"
    return [zeros] * STATES[op.kind]


def _recurrent(fn: str, ctx: Ctx, op: Op, states: str) -> str:
    attrs = op.attrs
    weights = "[" + ", ".join(ctx.arg(1 + i) for i in range(num_weights(attrs))) + "]"
    return call(fn, ctx.arg(0), states, weights, has_biases=attrs["bias"], num_layers=attrs["num_layers"],
                dropout=0.0, train=False, bidirectional=attrs["bidirectional"], batch_first=attrs["batch_first"])


@emits("lstm")
def lstm(ctx: Ctx, op: Op) -> str:
    h, c = _states(ctx, op)
    return _recurrent("torch.lstm", ctx, op, f"({h}, {c})")


@emits("gru")
def gru(ctx: Ctx, op: Op) -> str:
    return _recurrent("torch.gru", ctx, op, _states(ctx, op)[0])


@emits("rnn")
def rnn(ctx: Ctx, op: Op) -> str:
    return _recurrent(f"torch.rnn_{op.attrs['nonlinearity']}", ctx, op, _states(ctx, op)[0])


# ----------------------------------------------------------------------------- nn.Module forms


def _module_call(ctx: Ctx, op: Op, module: str) -> str:
    """nn.LSTM takes its initial states after the input as (h0, c0), GRU/RNN as h0."""
    states = [ctx.arg(i) for i in range(1 + num_weights(op.attrs), len(op.operands))]
    if not states:
        return f"{module}({ctx.arg(0)})"
    return f"{module}({ctx.arg(0)}, {states[0] if len(states) == 1 else '(' + ', '.join(states) + ')'})"


def _lstm_targets(outs: list[str]) -> str:
    return f"{outs[0]}, ({outs[1]}, {outs[2]})"  # nn.LSTM returns (output, (h_n, c_n))


def _module_ctor(cls: str):
    def ctor(op: Op, params: list, dtype: str | None) -> str | None:
        w, attrs = params[0], op.attrs
        if w.rank != 2 or not w.is_static:
            return None
        return (f"nn.{cls}({w.shape[1]}, {attrs['hidden_size']}"
                + ctor_keywords([("num_layers", None if attrs["num_layers"] == 1 else attrs["num_layers"]),
                                 ("nonlinearity", "'relu'" if attrs.get("nonlinearity") == "relu" else None),
                                 ("bias", None if attrs["bias"] else False),
                                 ("batch_first", True if attrs["batch_first"] else None),
                                 ("bidirectional", True if attrs["bidirectional"] else None),
                                 ("dtype", dtype)]) + ")")
    return ctor


module_form("lstm", call=_module_call, targets=_lstm_targets)(_module_ctor("LSTM"))
module_form("gru", call=_module_call)(_module_ctor("GRU"))
module_form("rnn", call=_module_call)(_module_ctor("RNN"))
