"""ncnn for reductions (irc/ir/ops/reduce.py): Reduction over the batchless axes (reduce_all=0), keepdims as
the IR says, fixbug0=1 (ncnn's current axis numbering); reducing the batch dimension is refused."""

from __future__ import annotations

from ...ir import Op
from .emitter import Emitter, emits

OPERATIONS = {"sum": 0, "mean": 3, "reduce_max": 4, "reduce_min": 5}  # IR op -> ncnn Reduction operation


@emits(*OPERATIONS)
def _reduce(emitter: Emitter, op: Op) -> None:
    x = op.operands[0]
    axes = sorted({emitter.axis(x, a, "reduced axis") for a in op.attrs["axes"]})
    batch = emitter.batch_axis(x)
    keep = op.attrs["keepdims"]
    if batch is not None:
        emitter.batch[id(op.results[0])] = batch if keep else batch - sum(a < batch for a in axes)
    emitter.shape(op.results[0])  # a result without dims besides the batch is refused here
    top = emitter.out(op)
    emitter.layer("Reduction", top, [emitter.blob(x)], [top],
                  {0: OPERATIONS[op.kind], 1: 0, 2: 1.0, 3: axes, 4: int(op.attrs["keepdims"]), 5: 1})
