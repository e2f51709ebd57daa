"""The PyTorch backend: IR → model.py + model.safetensors (`emit_pytorch`), and the torch executor that
runs IR directly (`Executor`, `run`), both from one op → torch table (`EMITTERS`) split by op family
like irc/ir/ops; `MODULES` holds the ops' nn.Module forms.

The executor's names are loaded lazily: emitting and the tables need torch only when they run.
"""

from __future__ import annotations

from . import attention, conv, core_ops, custom, elementwise, linalg, norm, recurrent, reduce, resize, shape  # noqa: F401
from .base import EMITTERS, HELPERS, MODULES, Ctx, emits, expression, helper_source, lit, module_form
from .emitter import EmitError, emit_pytorch

__all__ = ["EMITTERS", "HELPERS", "MODULES", "Ctx", "EmitError", "Executor", "emit_pytorch", "emits", "expression",
           "helper_source", "lit", "module_form", "run", "weight_tensor"]


def __getattr__(name: str):
    if name in ("Executor", "run", "weight_tensor", "compile_func"):
        from . import executor

        return getattr(executor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
