"""Floating-point operations at the imported shape, for the summaries the commands print.

A multiply-add counts as two FLOPs. Each op's rule is its definition's `flops` (convolutions, linear
layers, matrix products and attention exactly from their types; normalisation and softmax a few FLOPs
per output element; pooling per window element; reductions per input element); an op with the
"movement" trait counts none; any other op one FLOP per output element. A dynamic dimension (the `?`
batch) counts as 1, so a dynamic-batch model reports FLOPs per sample. No torch here.
"""

from __future__ import annotations

from .core import Module, Op
from .ops import OPS, ShapeError
from .ops.registry import static_numel


def op_flops(op: Op) -> int:
    """The FLOPs of one op (0 when its types do not allow counting)."""
    opdef = OPS.get(op.name)
    if not op.results or (opdef is not None and opdef.has("movement")):
        return 0
    if opdef is None or opdef.flops is None:
        return static_numel(op.results[0].type)
    try:
        return opdef.flops(op)
    except (TypeError, IndexError, ValueError, KeyError, ShapeError):
        return 0


def count_flops(module: Module) -> int:
    """FLOPs of one run: every block counted once per call."""
    from .structure import flatten

    return sum(op_flops(op) for op in flatten(module).ops())


def format_flops(n: float) -> str:
    for unit in ("", "K", "M", "G", "T", "P"):
        if n < 1000 or unit == "P":
            return f"{n:.0f} FLOPs" if unit == "" else f"{n:.2f} {unit}FLOPs"
        n /= 1000
    return f"{n} FLOPs"
