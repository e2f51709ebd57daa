"""infer-shapes: recompute every result type from the function's inputs down."""

from __future__ import annotations

from dataclasses import dataclass

from ..ir.diagnostics import Diagnostic, DiagnosticError, loc_note
from ..ir.ops import OPS, ShapeError
from ..ir.ops.registry import infer_types, normalize_attrs
from .base import Pass


@dataclass
class InferShapes(Pass):
    name = "infer-shapes"
    summary = "recompute every result type from the inputs down (run it after hand-editing shapes or strides)"
    needs_valid_input = False

    def apply(self, module) -> bool:
        changed = False
        diags = []
        for func in module.funcs:
            for op in func.ops:
                opdef = OPS.get(op.name)
                if opdef is None:
                    diags.append(Diagnostic(f"unknown op '{op.name}'", op.pos))
                    continue
                try:
                    attrs = normalize_attrs(opdef, op.attrs)
                    if op.name == "nn.param":
                        store = module.weights
                        if store is None or not store.has(attrs["key"]):
                            continue  # the verifier reports it
                        types = [store.type_of(attrs["key"])]
                    else:
                        types = infer_types(opdef, [v.type for v in op.operands], attrs)
                except ShapeError as e:
                    note = loc_note(op.loc)
                    diags.append(Diagnostic(f"{op.name}: {e}", op.pos, notes=[(None, note)] if note else []))
                    continue
                for r, t in zip(op.results, types):
                    if r.type != t:
                        r.type = t
                        changed = True
            new_results = [v.type for v in func.outputs]
            if new_results != func.result_types:
                func.result_types = new_results
                changed = True
            func.written_ret_types = None
        if diags:
            raise DiagnosticError(diags, module.path, module.source)
        return changed
