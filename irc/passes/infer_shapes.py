"""infer-shapes: recompute every result type from the function's inputs down."""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Module
from ..ir.diagnostics import Diagnostic, DiagnosticError, loc_note
from ..ir.ops import OPS, ShapeError
from ..ir.ops.registry import infer_types, normalize_attrs
from .base import Pass


@dataclass
class InferShapes(Pass):
    name = "infer-shapes"
    summary = "recompute every result type from the inputs down (run it after hand-editing shapes or strides)"
    needs_valid_input = False

    def apply(self, module: Module) -> bool:
        changed = False
        diags: list[Diagnostic] = []
        for func in module.funcs:
            for op in func.ops:
                types = self._infer(module, op, diags)
                if types is None:
                    continue
                for r, t in zip(op.results, types, strict=False):
                    if r.type != t:
                        r.type = t
                        changed = True
            new_results = [v.type for v in func.outputs]
            # the signature's arity is the user's; only the types of what it returns are rewritten
            if len(new_results) == len(func.result_types) and new_results != func.result_types:
                func.result_types = new_results
                changed = True
            func.written_ret_types = None
        if diags:
            raise DiagnosticError(diags, module.path, module.source)
        return changed

    @staticmethod
    def _infer(module: Module, op, diags: list) -> list | None:
        """The op's result types from its operands, or None after a diagnostic (or when the verifier will say
        what is wrong: an undefined operand, a missing weight)."""
        opdef = OPS.get(op.name)
        if opdef is None:
            diags.append(Diagnostic(f"unknown op '{op.name}'", op.pos))
            return None
        n, lo, hi = len(op.operands), opdef.min_operands, opdef.max_operands
        if n < lo or (hi is not None and n > hi) or any(v.type is None for v in op.operands):
            return None  # the verifier reports the count (or the undefined operand) with its own words
        note = loc_note(op.loc)
        try:
            attrs = normalize_attrs(opdef, op.attrs)
            if len(op.results) != opdef.results_for(attrs):
                return None  # likewise
            if op.name == "nn.param":
                store = module.weights
                if store is None or not store.has(attrs["key"]):
                    return None
                return [store.type_of(attrs["key"])]
            return infer_types(opdef, [v.type for v in op.operands], attrs)
        except ShapeError as e:
            diags.append(Diagnostic(f"{op.name}: {e}", op.pos, notes=[(None, note)] if note else []))
        except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError, OverflowError) as e:
            diags.append(Diagnostic(f"{op.name}: cannot infer the result type from these operands and attributes "
                                    f"({type(e).__name__}: {e})", op.pos, notes=[(None, note)] if note else []))
        return None
