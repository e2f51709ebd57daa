"""Cast (MXNet names dtypes as NumPy does: float32, int64, ...)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...ir import Value
from ...ir.dtypes import TABLE
from ..core import Unsupported
from .importer import Node, imports

if TYPE_CHECKING:
    from .importer import MxnetImporter

BY_NAME = {d.torch: name for name, d in TABLE.items()}  # "float32" -> "f32"


@imports("Cast", "cast")
def cast(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    dtype = node.text("dtype", "float32")
    if dtype not in BY_NAME:
        raise Unsupported(f"dtype {dtype}")
    return importer.emit("cast", ins[:1], {"dtype": BY_NAME[dtype]})
