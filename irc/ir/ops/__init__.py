"""The op registry. Importing this package registers every op family."""

from . import attention, conv, core_ops, elementwise, linalg, norm, recurrent, reduce, resize, shape  # noqa: F401  (they register ops)
from .registry import ABSENT, OPS, REQUIRED, Attr, OpDef, ShapeError, define, lookup

__all__ = ["OPS", "OpDef", "Attr", "ShapeError", "define", "lookup", "REQUIRED", "ABSENT"]
