"""The op registry. Importing this package registers every op family."""

# importing a family module registers its ops
from . import attention, conv, core_ops, custom, elementwise, linalg, norm, recurrent, reduce, resize, shape  # noqa: F401
from .registry import ABSENT, OPS, REQUIRED, RULES, TRAITS, Attr, OpDef, ShapeError, carried_dims, define, lookup

__all__ = ["OPS", "OpDef", "Attr", "ShapeError", "define", "lookup", "carried_dims", "REQUIRED", "ABSENT", "RULES",
           "TRAITS"]
