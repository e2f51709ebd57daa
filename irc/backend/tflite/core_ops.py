"""TFLite for core ops (irc/ir/ops/core_ops.py): a constant becomes a constant tensor where it is read
(nothing is emitted for the op itself); cast is CAST."""

from __future__ import annotations

from ...ir import Op
from .emitter import Emitter, emits


@emits("constant")
def _constant(emitter: Emitter, op: Op) -> None:
    """Nothing: `Emitter.input` makes the constant tensor for each reader."""


@emits("cast")
def _cast(emitter: Emitter, op: Op) -> None:
    emitter.operator("CAST", [emitter.input(op, 0)], [emitter.output(op)])
