"""Keras for core ops (irc/ir/ops/core_ops.py): a constant is written where it is first read (a NumPy literal,
or a weight kept by the layer that reads it); a cast is keras.ops.cast."""

from __future__ import annotations

import numpy as np

from ...ir import Op
from ...ir.dtypes import IR_TO_NP
from .emitter import KerasEmitter, emits


@emits("constant")
def constant(emitter: KerasEmitter, op: Op) -> None:
    """Nothing here: `emitter.tensor` writes it on first use."""


@emits("cast")
def cast(emitter: KerasEmitter, op: Op) -> None:
    emitter.ops(op, "cast", emitter.tensor(op.operands[0]), repr(np.dtype(IR_TO_NP[op.attrs["dtype"]]).name))
