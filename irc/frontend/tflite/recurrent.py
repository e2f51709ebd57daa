"""UNIDIRECTIONAL_SEQUENCE_LSTM as a one-layer nn.lstm (TFLite's input/forget/cell/output gates are
PyTorch's i, f, g, o; the four gate biases become bias_ih, bias_hh is zero), and REVERSE_V2 (how a
backward direction is written) as a gather of the reversed indices. Peepholes, projection, layer
normalisation and clipping are refused; the states are the zero-initialised variables."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...ir import Value
from ..core import Unsupported
from .importer import imports

if TYPE_CHECKING:
    from .importer import TfliteImporter

ABSENT_EXTRAS = (9, 10, 11, 16, 17, 20, 21, 22, 23)  # peepholes, projection, layer norm coefficients


def _block(importer: TfliteImporter, first: int, what: str) -> np.ndarray:
    arrays = [importer.array(first + g) for g in range(4)]
    if any(a is None for a in arrays):
        raise Unsupported(f"the {what} must be constants (and all four gates present)")
    return np.concatenate([a.astype(np.float32) for a in arrays], axis=0)


@imports("UNIDIRECTIONAL_SEQUENCE_LSTM")
def unidirectional_lstm(importer: TfliteImporter, operator: object) -> Value:
    o = importer.options
    if any(importer.has_input(i) for i in ABSENT_EXTRAS):
        raise Unsupported("peephole, projection or layer-norm LSTMs are not supported")
    if o.cellClip or o.projClip or o.fusedActivationFunction != importer.schema.ActivationFunctionType.TANH:
        raise Unsupported("LSTM clipping or a cell activation other than tanh is not supported")
    w_ih, w_hh = _block(importer, 1, "input weights"), _block(importer, 5, "recurrent weights")
    b_ih = _block(importer, 12, "gate biases")
    x = importer.input(0)
    hidden = w_hh.shape[1]
    params = [importer.new_constant(w_ih, "weight_ih_l0"), importer.new_constant(w_hh, "weight_hh_l0"),
              importer.new_constant(b_ih, "bias_ih_l0"), importer.new_constant(np.zeros_like(b_ih), "bias_hh_l0")]
    attrs = {"hidden_size": hidden, "num_layers": 1, "bidirectional": False, "batch_first": not o.timeMajor}
    return importer.emit("lstm", [x, *params], attrs)


@imports("REVERSE_V2")
def reverse(importer: TfliteImporter, operator: object) -> Value:
    x = importer.input(0)
    axes = importer.ints(1, "axis")
    if len(axes) != 1 or x.type.shape[axes[0]] is None:
        raise Unsupported("REVERSE_V2 of one static axis only")
    n = x.type.shape[axes[0]]
    indices = importer.new_constant(np.arange(n - 1, -1, -1, dtype=np.int64), "indices")
    return importer.emit("gather", [x, indices], {"axis": axes[0] % x.type.rank})
