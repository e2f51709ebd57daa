"""nn.LSTM / nn.GRU / nn.RNN → nn.lstm / nn.gru / nn.rnn, one op per module, never unrolled.

Two ways in, one import:
- `aten.lstm.input`, `aten.gru.input`, `aten.rnn_tanh.input`, `aten.rnn_relu.input`: what torch.export
  records for these modules (kept whole by `run_decompositions({})`). torch computes their result shapes
  by running the per-time-step decomposition, which fixes the sequence length to the example's.
- `torch.ops.irc_rnn.*`: before export, irc points the `forward` of every plain nn.LSTM/GRU/RNN in its
  private copy of the model at the same computation written as one custom op whose shape function is
  symbolic, so a dynamic sequence dimension stays dynamic. The custom op runs torch.lstm & co., the
  functions nn.LSTM itself calls.
Initial states that are zeros (nn.LSTM's default) are left out of the IR op (absent means zeros).
"""

from __future__ import annotations

import types

import torch
from torch import nn

from ...ir.ops.recurrent import weight_names
from ..core import Unsupported
from .importer import imports, is_tensor, static_dim, tensor_type

aten = torch.ops.aten


# ----------------------------------------------------------------------------- custom ops (dynamic seq)


def _fake_shapes(x, layers, bidirectional, batch_first, hidden):
    dirs = 2 if bidirectional else 1
    b = x.shape[0] if batch_first else x.shape[1]
    y = x.new_empty((x.shape[0], x.shape[1], dirs * hidden))
    return y, x.new_empty((layers * dirs, b, hidden))


def _hidden(params, has_biases):
    return params[1].shape[1]  # weight_hh_l0: [G*hidden, hidden]


def _zeros(x, num_states, params, batch_first, count):
    h = x.new_zeros((num_states, x.shape[0] if batch_first else x.shape[1], params[1].shape[1]))
    return [h] * count


@torch.library.custom_op("irc_rnn::lstm", mutates_args=())
def _lstm_op(x: torch.Tensor, hx: list[torch.Tensor], params: list[torch.Tensor], has_biases: bool,
             num_layers: int, bidirectional: bool,
             batch_first: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    n = num_layers * (2 if bidirectional else 1)
    hx = list(hx) or _zeros(x, n, params, batch_first, 2)
    y, h, c = torch.lstm(x, hx, params, has_biases, num_layers, 0.0, False, bidirectional, batch_first)
    return y.clone(), h.clone(), c.clone()


@_lstm_op.register_fake
def _(x, hx, params, has_biases, num_layers, bidirectional, batch_first):
    y, h = _fake_shapes(x, num_layers, bidirectional, batch_first, _hidden(params, has_biases))
    return y, h, torch.empty_like(h)


def _make_simple(name, fn):
    @torch.library.custom_op(f"irc_rnn::{name}", mutates_args=())
    def op(x: torch.Tensor, hx: list[torch.Tensor], params: list[torch.Tensor], has_biases: bool,
           num_layers: int, bidirectional: bool, batch_first: bool) -> tuple[torch.Tensor, torch.Tensor]:
        n = num_layers * (2 if bidirectional else 1)
        h0 = hx[0] if hx else _zeros(x, n, params, batch_first, 1)[0]
        y, h = fn(x, h0, params, has_biases, num_layers, 0.0, False, bidirectional, batch_first)
        return y.clone(), h.clone()

    @op.register_fake
    def _(x, hx, params, has_biases, num_layers, bidirectional, batch_first):
        return _fake_shapes(x, num_layers, bidirectional, batch_first, _hidden(params, has_biases))

    return op


_gru_op = _make_simple("gru", torch.gru)
_rnn_tanh_op = _make_simple("rnn_tanh", torch.rnn_tanh)
_rnn_relu_op = _make_simple("rnn_relu", torch.rnn_relu)


def _op_for(module):
    if isinstance(module, nn.LSTM):
        return torch.ops.irc_rnn.lstm
    if isinstance(module, nn.GRU):
        return torch.ops.irc_rnn.gru
    return torch.ops.irc_rnn.rnn_tanh if module.nonlinearity == "tanh" else torch.ops.irc_rnn.rnn_relu


def _forward(self, input, hx=None):
    if not isinstance(input, torch.Tensor):  # a PackedSequence: the module's own forward
        return type(self).forward(self, input, hx)
    lstm = isinstance(self, nn.LSTM)
    unbatched = input.dim() == 2
    if unbatched:
        input = input.unsqueeze(0 if self.batch_first else 1)
    states = [] if hx is None else (list(hx) if lstm else [hx])
    if unbatched:
        states = [s.unsqueeze(1) for s in states]
    params = [getattr(self, n) for n in self._flat_weights_names]
    out = _op_for(self)(input, states, params, self.bias, self.num_layers, self.bidirectional, self.batch_first)
    y, rest = out[0], list(out[1:])
    if unbatched:
        y = y.squeeze(0 if self.batch_first else 1)
        rest = [s.squeeze(1) for s in rest]
    return (y, (rest[0], rest[1])) if lstm else (y, rest[0])


_PLAIN = {nn.LSTM: nn.LSTM.forward, nn.GRU: nn.GRU.forward, nn.RNN: nn.RNN.forward}


def patch_recurrent(root: nn.Module) -> int:
    """Point the forward of every plain nn.LSTM/GRU/RNN in `root` (irc's private copy) at one custom op;
    returns how many. Subclasses with their own forward and LSTMs with proj_size are left alone."""
    n = 0
    for m in root.modules():
        cls = type(m)
        if cls in _PLAIN and cls.forward is _PLAIN[cls] and not getattr(m, "proj_size", 0) and \
                m._flat_weights_names == weight_names(m.num_layers, m.bidirectional, m.bias):
            m.forward = types.MethodType(_forward, m)
            n += 1
    return n


# ----------------------------------------------------------------------------- the importers

_ZERO_STATE = object()  # a zeros initial state made from a dynamic batch size
_ATEN_RECURRENT = {aten.lstm.input: ("lstm", None), aten.gru.input: ("gru", None),
                   aten.rnn_tanh.input: ("rnn", "tanh"), aten.rnn_relu.input: ("rnn", "relu")}
_CUSTOM_RECURRENT = {torch.ops.irc_rnn.lstm.default: ("lstm", None), torch.ops.irc_rnn.gru.default: ("gru", None),
                     torch.ops.irc_rnn.rnn_tanh.default: ("rnn", "tanh"),
                     torch.ops.irc_rnn.rnn_relu.default: ("rnn", "relu")}


def _is_zero_state(importer, arg) -> bool:
    if not isinstance(arg, torch.fx.Node):
        return False
    if importer.env.get(arg) is _ZERO_STATE:
        return True
    t = importer.folded.get(arg)
    return is_tensor(t) and not bool(t.any())


def _recurrent_attrs(kind, x, params, has_biases, num_layers, bidirectional, batch_first, nonlinearity):
    xv = x.meta["val"]
    if xv.dim() != 3:
        raise Unsupported(f"{kind} input of rank {xv.dim()}")
    per = (4 if has_biases else 2) * (2 if bidirectional else 1)
    if len(params) != per * int(num_layers):  # nn.LSTM(proj_size=...) adds weight_hr_l{k}
        raise Unsupported(f"{kind} with {len(params)} weights for {num_layers} layer(s) (LSTM projections, "
                          "proj_size, are not supported)")
    attrs = {"hidden_size": static_dim(params[1].meta["val"].shape[1]), "num_layers": int(num_layers),
             "bidirectional": bool(bidirectional), "batch_first": bool(batch_first), "bias": bool(has_biases)}
    if nonlinearity:
        attrs["nonlinearity"] = nonlinearity
    return attrs


def _recurrent(kind, nonlinearity=None, custom=False):
    def fn(importer, node, x, hx, params, has_biases, num_layers, *rest):
        if custom:
            bidirectional, batch_first = rest
        else:
            dropout, train, bidirectional, batch_first = rest
            if train and dropout:
                raise Unsupported(f"{kind} with dropout in training mode (call model.eval())")
        hx = [hx] if isinstance(hx, torch.fx.Node) else list(hx)
        attrs = _recurrent_attrs(kind, x, params, has_biases, num_layers, bidirectional, batch_first, nonlinearity)
        operands = [importer.operand(x)] + [importer.operand(p) for p in params]
        if hx and not all(_is_zero_state(importer, h) for h in hx):
            if any(importer.env.get(h) is _ZERO_STATE for h in hx):
                raise Unsupported(f"{kind} with one initial state zeros of a dynamic size and the other given")
            operands += [importer.operand(h) for h in hx]
        val = node.meta["val"]
        results = importer.emit(kind, operands, attrs, [tensor_type(v) for v in val], nresults=len(val))
        for r, f in zip(results, val, strict=True):
            importer.note_syms(r, f)
        return list(results)
    return fn


for _target, (_kind, _nonlinearity) in _ATEN_RECURRENT.items():
    imports(_target)(_recurrent(_kind, _nonlinearity))
for _target, (_kind, _nonlinearity) in _CUSTOM_RECURRENT.items():
    imports(_target)(_recurrent(_kind, _nonlinearity, custom=True))


@imports(aten.zeros.default)
def _zeros_state(importer, node, *args, **kwargs):
    """Zeros of a dynamic size (the default initial state of an exported nn.LSTM with a dynamic batch): only
    as the initial state of a recurrent op, which leaves it out."""
    if node.users and all(u.target in _ATEN_RECURRENT for u in node.users):
        return _ZERO_STATE
    raise Unsupported("no irc importer for this op")
