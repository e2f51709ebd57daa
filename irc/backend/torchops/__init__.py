"""The op → torch mapping, one module per op family (mirroring irc/ir/ops)."""

from . import attention, conv, core_ops, elementwise, linalg, norm, recurrent, reduce, resize, shape  # noqa: F401  (they register)
from .base import HELPERS, LOWER, TORCH_DTYPE, Ctx, expression, lit

__all__ = ["HELPERS", "LOWER", "TORCH_DTYPE", "Ctx", "expression", "lit"]
