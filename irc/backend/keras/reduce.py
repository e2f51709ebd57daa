"""Keras for reductions (irc/ir/ops/reduce.py): a mean or max over H and W of a rank-4 (channels-last) tensor
is GlobalAveragePooling2D / GlobalMaxPooling2D; the rest are keras.ops.mean / sum / max / min."""

from __future__ import annotations

from collections.abc import Callable

from ...ir import Op
from .emitter import KerasEmitter, emits, lit

# IR op -> (keras.ops function, the global pooling layer over H and W, or None)
REDUCTIONS = {"mean": ("mean", "GlobalAveragePooling2D"), "reduce_max": ("max", "GlobalMaxPooling2D"),
              "sum": ("sum", None), "reduce_min": ("min", None)}


def _reduce(fn: str, pooling: str | None) -> Callable:
    def emit(emitter: KerasEmitter, op: Op) -> None:
        x = op.operands[0]
        axes = sorted(a % x.type.rank for a in op.attrs["axes"])
        keepdims = op.attrs["keepdims"]
        if pooling is not None and x.type.rank == 4 and axes == [1, 2]:
            emitter.layer(op, pooling, [f"keepdims={keepdims}"], emitter.tensor(x))
            return
        emitter.ops(op, fn, emitter.tensor(x), f"axis={lit(axes)}", keepdims=keepdims)

    return emit


for _kind, (_fn, _pooling) in REDUCTIONS.items():
    emits(_kind)(_reduce(_fn, _pooling))
