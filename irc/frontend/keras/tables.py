"""The Keras importer's op-keyed table, keyed by Keras layer class name, filled by the family files.

`IMPORTERS`: `handler(importer, layer, inputs) -> Value | list[Value]` for one call of `layer` on the IR
values `inputs` (the layer's input tensors, flattened in call order).
"""

from __future__ import annotations

from ...ir.table import OpTable

IMPORTERS = OpTable("Keras importer")
imports = IMPORTERS.register

__all__ = ["IMPORTERS", "imports"]
