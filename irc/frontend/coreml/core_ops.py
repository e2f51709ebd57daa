"""MIL casts → IR (irc/ir/ops/core_ops.py); consts become params or constants where they are read
(`CoremlImporter.value`)."""

from __future__ import annotations

from ..core import Unsupported
from .importer import MIL_TO_IR, CoremlImporter, imports


@imports("cast")
def _cast(importer: CoremlImporter, op: object) -> object:
    dtype = importer.attr(op, "dtype")
    if dtype not in MIL_TO_IR:
        raise Unsupported(f"a cast to {dtype}")
    return importer.emit("cast", [importer.value(op.inputs["x"])], {"dtype": MIL_TO_IR[dtype]})
