"""Recurrent layers: LSTM, GRU, SimpleRNN and Bidirectional (merge_mode "concat") → one batch-first
nn.lstm / nn.gru / nn.rnn.

Keras stores a kernel [in, G*units] and a recurrent kernel [units, G*units]; the IR wants PyTorch's
[G*units, in] and [G*units, units] with PyTorch's gate order. Keras' LSTM gates i, f, c, o are PyTorch's
i, f, g, o already; GRU's z, r, h become r, z, n. Keras has one bias (LSTM, SimpleRNN: bias_hh is a zeros
param of the importer's) or, for GRU with reset_after=True (PyTorch's GRU), an input and a recurrent bias.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...ir import Value
from ..core import Unsupported
from .elementwise import activation_name
from .tables import imports

if TYPE_CHECKING:
    from .importer import KerasImporter

# Keras class -> (IR op, PyTorch's gate blocks as indices into Keras' order)
KINDS = {"LSTM": ("lstm", [0, 1, 2, 3]), "GRU": ("gru", [1, 0, 2]), "SimpleRNN": ("rnn", [0])}


def _check(layer: object, backward: bool) -> dict:
    """The layer's config, Unsupported for what PyTorch's modules cannot express (going backwards is
    only read as the backward half of a Bidirectional)."""
    config = layer.get_config()
    kind = type(layer).__name__
    for key in ("go_backwards", "stateful", "return_state", "unroll"):
        if config.get(key) and not (key == "go_backwards" and backward):
            raise Unsupported(f"{kind} with {key}=True is not supported")
    act = activation_name(config.get("activation"))
    if kind == "SimpleRNN":
        if act not in ("tanh", "relu"):
            raise Unsupported(f"SimpleRNN activation '{act}' (only tanh and relu)")
        return config
    recurrent = activation_name(config.get("recurrent_activation"))
    if (act, recurrent) != ("tanh", "sigmoid"):
        raise Unsupported(f"{kind} activations ({act}, {recurrent}) (only tanh with a sigmoid recurrent activation)")
    if kind == "GRU" and not config.get("reset_after", True):
        raise Unsupported("GRU with reset_after=False (PyTorch's GRU resets after the hidden matmul)")
    return config


def _weights(importer: KerasImporter, layer: object, order: list[int]) -> list[Value]:
    """weight_ih, weight_hh (and bias_ih, bias_hh) of one direction, in PyTorch's gate order and layout."""
    cell = layer.cell
    gates = len(order)

    def torch_gates(arr: np.ndarray) -> np.ndarray:
        blocks = np.split(arr, gates, axis=-1)
        return np.concatenate([blocks[i] for i in order], axis=-1).T

    out = [importer.weight(cell.kernel, torch_gates, how="torch_gates"),
           importer.weight(cell.recurrent_kernel, torch_gates, how="torch_gates")]
    if not cell.use_bias:
        return out
    if tuple(cell.bias.shape) == (2, gates * cell.units):  # GRU reset_after: input bias, recurrent bias
        out.append(importer.weight(cell.bias, lambda a: torch_gates(a[0]), how="torch_gates_input"))
        out.append(importer.weight(cell.bias, lambda a: torch_gates(a[1]), how="torch_gates_recurrent"))
    else:
        out.append(importer.weight(cell.bias, torch_gates, how="torch_gates"))
        out.append(importer.new_param(np.zeros(gates * cell.units, np.float32), f"{layer.name}/bias_hh"))
    return out


def _last_steps(importer: KerasImporter, h_n: Value, dirs: int) -> Value:
    """The final hidden state [dirs, batch, units] as Keras returns it: [batch, dirs*units]."""
    parts = []
    for d in range(dirs):
        part = h_n if dirs == 1 else importer.emit("slice", [h_n], {"axes": [0], "starts": [d], "ends": [d + 1]})
        parts.append(importer.emit("squeeze", [part], {"axes": [0]}))
    return parts[0] if dirs == 1 else importer.emit("concat", parts, {"axis": -1})


def _recurrent(importer: KerasImporter, layers: list, ins: list[Value]) -> Value:
    """One nn.lstm / nn.gru / nn.rnn for `layers` (one, or a forward and a backward one)."""
    if len(ins) != 1:
        raise Unsupported("initial states or a mask are not supported")
    configs = [_check(one, backward=d == 1) for d, one in enumerate(layers)]
    kind, order = KINDS[type(layers[0]).__name__]
    weights = [w for one in layers for w in _weights(importer, one, order)]
    attrs = {"hidden_size": int(configs[0]["units"]), "bidirectional": len(layers) == 2, "batch_first": True,
             "bias": bool(configs[0].get("use_bias", True))}
    if len({c.get("use_bias", True) for c in configs}) != 1:
        raise Unsupported("a Bidirectional layer with a bias in one direction only")
    if kind == "rnn":
        attrs["nonlinearity"] = activation_name(configs[0].get("activation"))
    results = importer.emit_results(kind, [ins[0], *weights], attrs)
    if configs[0].get("return_sequences"):
        return results[0]
    return _last_steps(importer, results[1], len(layers))


@imports(*KINDS)
def recurrent(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    return _recurrent(importer, [layer], ins)


@imports("Bidirectional")
def bidirectional(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    """A forward and a backward (go_backwards) layer of one kind, outputs concatenated (PyTorch's
    bidirectional: the backward sequence is brought back to time order, as Keras does)."""
    if importer.config("merge_mode", "concat") != "concat":
        raise Unsupported(f"Bidirectional merge_mode '{importer.config('merge_mode')}' (only 'concat')")
    forward, backward = layer.forward_layer, layer.backward_layer
    if type(forward).__name__ not in KINDS or type(forward) is not type(backward):
        raise Unsupported(f"Bidirectional over {type(forward).__name__} / {type(backward).__name__}")
    if forward.go_backwards or not backward.go_backwards:
        raise Unsupported("Bidirectional whose forward layer goes backwards")
    if backward.get_config().get("return_sequences") != forward.get_config().get("return_sequences"):
        raise Unsupported("Bidirectional with return_sequences differing between directions")
    return _recurrent(importer, [forward, backward], ins)
