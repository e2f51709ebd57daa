"""The ONNX importer's op-keyed tables, keyed by ONNX op type, filled by the family files.

- `IMPORTERS`: `handler(importer, node)` for a node with at least one run-time input; returns the IR
  value(s) (or import-time values) for its outputs.
- `SHAPE_IMPORTERS`: `handler(importer, node, inputs)` for a node computing on shape vectors (`Shp`)
  and constants only.
- `AFFINE_IMPORTERS`: `handler(importer, node, inputs)` for a node with an `Affine` input.

And what the driver must know of some op types, declared next to their handlers:

- `NEVER_FOLDED`: op types never evaluated at import time even when every input is constant
  (random ops, and ops that only pass a value on).
- `ALWAYS_FOLDED`: op types evaluated at import time though they have no inputs (Constant).
- `KEEPS_WEIGHTS`: op types not folded when they read a float initializer, so that the weight keeps its
  key (a Transpose of a weight, so that matmul(x, W^T) + b becomes nn.linear again).
- `EXTRA_ATTRIBUTES`: attributes a handler reads though the op's schema at the model's opset may not declare
  them (the older forms some exporters kept writing: BatchNormalization's `spatial`). Any other attribute the
  schema does not declare makes the node unsupported, listed rather than guessed at.
"""

from __future__ import annotations

from ...ir.table import OpTable

IMPORTERS = OpTable("ONNX importer")
SHAPE_IMPORTERS = OpTable("ONNX shape-vector importer")
AFFINE_IMPORTERS = OpTable("ONNX affine-index importer")

imports = IMPORTERS.register
imports_shape = SHAPE_IMPORTERS.register
imports_affine = AFFINE_IMPORTERS.register

NEVER_FOLDED: set[str] = set()
ALWAYS_FOLDED: set[str] = set()
KEEPS_WEIGHTS: set[str] = set()
EXTRA_ATTRIBUTES: dict[str, set[str]] = {}

__all__ = ["AFFINE_IMPORTERS", "ALWAYS_FOLDED", "EXTRA_ATTRIBUTES", "IMPORTERS", "KEEPS_WEIGHTS", "NEVER_FOLDED",
           "SHAPE_IMPORTERS", "imports", "imports_affine", "imports_shape"]
