"""Recurrent layers: LSTM, GRU and Elman RNN, each one op for the whole (multi-layer, bidirectional) stack.

Operands follow torch.nn.LSTM/GRU/RNN: the input sequence, then the weights in the module's
`_flat_weights` order, then the optional initial states. For layer k and direction d (suffix "" or
"_reverse") the weights are `weight_ih_l{k}{d}` [G*hidden, in_k], `weight_hh_l{k}{d}` [G*hidden, hidden]
and, when `bias` is true, `bias_ih_l{k}{d}` [G*hidden], `bias_hh_l{k}{d}` [G*hidden]; in_0 is the input's
feature size, in_k = num_directions*hidden after that; G is 4 for LSTM (gates i, f, g, o), 3 for GRU
(r, z, n) and 1 for RNN — PyTorch's gate order and layout. The weight count follows from the attributes,
so the operands after it are the initial states: h0 [num_layers*num_directions, batch, hidden] (and c0
for LSTM, both or neither); absent states are zeros.

Results: the output sequence [seq, batch, num_directions*hidden] ([batch, seq, ...] when batch_first),
the final hidden state h_n [num_layers*num_directions, batch, hidden] and, for LSTM, the final cell
state c_n (same shape). Inference only: no dropout between layers.
"""

from __future__ import annotations

from ..core import TensorType
from .registry import Attr, ShapeError, define, dims_equal, need_float, need_rank, same_dtype

GATES = {"lstm": 4, "gru": 3, "rnn": 1}
STATES = {"lstm": 2, "gru": 1, "rnn": 1}


def weight_names(num_layers: int, bidirectional: bool, bias: bool) -> list[str]:
    """The state_dict suffixes of the weights, in operand order (nn.LSTM's `_flat_weights_names`)."""
    out = []
    for k in range(num_layers):
        for d in ("", "_reverse") if bidirectional else ("",):
            out += [f"weight_ih_l{k}{d}", f"weight_hh_l{k}{d}"]
            if bias:
                out += [f"bias_ih_l{k}{d}", f"bias_hh_l{k}{d}"]
    return out


def _param_names(attrs) -> list[str]:
    return weight_names(attrs["num_layers"], attrs["bidirectional"], attrs["bias"])


def num_weights(attrs: dict) -> int:
    return attrs["num_layers"] * (2 if attrs["bidirectional"] else 1) * (4 if attrs["bias"] else 2)


def split_operands(kind: str, ins: list, attrs: dict) -> tuple[list, list]:
    """(weights, initial states) of a recurrent op's operands after the input."""
    n = num_weights(attrs)
    rest = list(ins[1:])
    if len(rest) < n:
        raise ShapeError(f"{attrs['num_layers']} layer(s){' bidirectional' if attrs['bidirectional'] else ''}"
                         f"{'' if attrs['bias'] else ' without bias'} need {n} weight operands, got {len(rest)}")
    states = rest[n:]
    if len(states) not in (0, STATES[kind]):
        want = "h0 and c0 (both or neither)" if kind == "lstm" else "at most one initial state (h0)"
        raise ShapeError(f"{len(states)} operands after the {n} weights: nn.{kind} takes {want}")
    return rest[:n], states


def _infer(kind):
    def infer(ins, attrs):
        x = ins[0]
        need_rank(x, 3, "input")
        need_float(x)
        same_dtype(ins)
        hidden, layers = attrs["hidden_size"], attrs["num_layers"]
        if hidden <= 0 or layers <= 0:
            raise ShapeError(f"hidden_size and num_layers must be positive, got {hidden} and {layers}")
        dirs = 2 if attrs["bidirectional"] else 1
        weights, states = split_operands(kind, ins, attrs)
        g = GATES[kind] * hidden
        names = weight_names(layers, attrs["bidirectional"], attrs["bias"])
        per = 4 if attrs["bias"] else 2
        for i, (name, w) in enumerate(zip(names, weights, strict=False)):
            layer = i // (per * dirs)
            feat = x.shape[2] if layer == 0 else dirs * hidden
            shapes = {"weight_ih": (g, feat), "weight_hh": (g, hidden), "bias_ih": (g,), "bias_hh": (g,)}
            want = shapes[name.rsplit("_l", 1)[0]]
            if w.rank != len(want) or not all(dims_equal(a, b) for a, b in zip(w.shape, want, strict=False)):
                shape = "x".join("?" if d is None else str(d) for d in want)
                raise ShapeError(f"{name} must be tensor<{shape}x{x.dtype}>, got {w}")
        seq, batch = (x.shape[1], x.shape[0]) if attrs["batch_first"] else (x.shape[0], x.shape[1])
        state = TensorType((layers * dirs, batch, hidden), x.dtype)
        for name, s in zip(("h0", "c0"), states, strict=False):
            if s.rank != 3 or not all(dims_equal(a, b) for a, b in zip(s.shape, state.shape, strict=False)):
                raise ShapeError(f"{name} must be {state}, got {s}")
        y = (batch, seq, dirs * hidden) if attrs["batch_first"] else (seq, batch, dirs * hidden)
        return [x.with_shape(y)] + [state] * STATES[kind]
    return infer


def _attrs(extra=()):
    return [Attr("hidden_size", "int", doc="features of the hidden state"),
            Attr("num_layers", "int", 1, doc="stacked layers, each reading the previous one's output sequence"),
            Attr("bidirectional", "bool", False, doc="a second direction per layer, reading the sequence backwards"),
            Attr("batch_first", "bool", False, doc="input and output sequence are [batch, seq, feature]"),
            Attr("bias", "bool", True, doc="the layer has bias_ih/bias_hh weights"), *extra]


_OPERANDS = ("Operands: the input [seq, batch, feature] ([batch, seq, feature] when batch_first); the weights, "
             "named and ordered as nn.{cls}'s state_dict: per layer k and direction (suffix `_reverse` for the "
             "second) weight_ih_l{{k}} [{g}*hidden, in], weight_hh_l{{k}} [{g}*hidden, hidden], bias_ih_l{{k}}, "
             "bias_hh_l{{k}} [{g}*hidden] (`%weights*` counts them from the attributes); then the optional initial "
             "state{states} [num_layers*directions, batch, hidden], zeros when absent. Results: the output sequence "
             "(hidden features per direction, concatenated), h_n{cn} [num_layers*directions, batch, hidden].")

define("lstm", "recurrent", ("input", "weights*", "h0?", "c0?"), _attrs(), _infer("lstm"), num_results=3,
       params=_param_names,
       doc="Long short-term memory (torch.nn.LSTM), PyTorch's gate order i, f, g, o. "
           + _OPERANDS.format(cls="LSTM", g=4, states="s h0 and c0 (both or neither)", cn=" and c_n"))
define("gru", "recurrent", ("input", "weights*", "h0?"), _attrs(), _infer("gru"), num_results=2, params=_param_names,
       doc="Gated recurrent unit (torch.nn.GRU), PyTorch's gate order r, z, n; the reset gate scales the hidden "
           "matmul's result (ONNX's linear_before_reset=1). "
           + _OPERANDS.format(cls="GRU", g=3, states=" h0", cn=""))
define("rnn", "recurrent", ("input", "weights*", "h0?"),
       _attrs([Attr("nonlinearity", "enum", "tanh", ("tanh", "relu"), doc="applied to each new hidden state")]),
       _infer("rnn"), num_results=2, params=_param_names,
       doc="Elman RNN (torch.nn.RNN): h' = nonlinearity(W_ih x + b_ih + W_hh h + b_hh). "
           + _OPERANDS.format(cls="RNN", g=1, states=" h0", cn=""))
