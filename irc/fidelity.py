"""The numeric-fidelity rules of DESIGN.md, in one place: tests, passes' numeric checks and
`irc-check` all call `compare`.

- "exact": emitted code with no numeric pass vs the source: bit-identical, or allclose(rtol=1e-5, atol=1e-6).
- "pass":  after fusion/folding/layout passes, or any other runtime (onnxruntime, ...): with
           s = max(1, max|ref|), max|Δ| ≤ 1e-4·s and allclose(rtol=1e-3, atol=1e-4·s) — the absolute part scales
           with the output, since a near-zero element of an output of scale 240 may move by float32 rounding of
           the large ones.
- "f16":   f16 weights or compute: the same with 1e-2·s and rtol=1e-2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

RULES = {"exact": (1e-5, 1e-6), "pass": (1e-3, 1e-4), "f16": (1e-2, 1e-2)}


@dataclass
class Verdict:
    max_abs: float
    max_rel_scale: float  # max|Δ| / max(1, max|ref|)
    cosine: float
    argmax_agree: float  # fraction of rows (last axis) whose argmax agrees; nan for scalars
    bit_identical: bool
    ok: bool
    rule: str

    def line(self, name: str = "output") -> str:
        state = "ok" if self.ok else "FAIL"
        ident = " (bit-identical)" if self.bit_identical else ""
        arg = "n/a" if np.isnan(self.argmax_agree) else f"{self.argmax_agree * 100:.1f}%"
        return (f"{name}: max|d|={self.max_abs:.3g}  rel={self.max_rel_scale:.3g}  cos={self.cosine:.7f}  "
                f"argmax={arg}  [{state}: {self.rule}]{ident}")


def _np(x):
    if hasattr(x, "detach"):
        x = x.detach()
        if str(x.dtype) == "torch.bfloat16":
            x = x.float()
        x = x.cpu().numpy()
    return np.asarray(x)


def compare(ref: np.ndarray | torch.Tensor, out: np.ndarray | torch.Tensor, rule: str = "exact",
            rtol: float | None = None, atol: float | None = None) -> Verdict:
    ref, out = _np(ref), _np(out)
    if ref.shape != out.shape:
        return Verdict(float("inf"), float("inf"), float("nan"), float("nan"), False, False,
                       f"shape {list(out.shape)} != reference {list(ref.shape)}")
    r_tol, a_tol = RULES[rule]
    r_tol = r_tol if rtol is None else rtol
    a_tol = a_tol if atol is None else atol
    identical = bool(np.array_equal(ref, out, equal_nan=True))
    if not np.issubdtype(ref.dtype, np.floating):
        return Verdict(0.0 if identical else float("inf"), 0.0, 1.0, float("nan"), identical, identical,
                       "integer outputs must be equal")
    r64, o64 = ref.astype(np.float64), out.astype(np.float64)
    diff = np.abs(r64 - o64)
    max_abs = float(np.nanmax(diff)) if diff.size else 0.0
    if np.isnan(diff).any() and not identical:
        max_abs = float("inf")
    scale = max(1.0, float(np.nanmax(np.abs(r64))) if r64.size else 1.0)
    denom = np.linalg.norm(r64) * np.linalg.norm(o64)
    cosine = float(np.dot(r64.ravel(), o64.ravel()) / denom) if denom > 0 else (1.0 if identical else 0.0)
    if ref.ndim >= 1 and ref.shape[-1] > 1 and ref.size:
        agree = float(np.mean(np.argmax(r64, -1) == np.argmax(o64, -1)))
    else:
        agree = float("nan")
    if rule == "exact":
        ok = identical or bool(np.allclose(o64, r64, rtol=r_tol, atol=a_tol, equal_nan=True))
        desc = f"bit-identical or allclose(rtol={r_tol:g}, atol={a_tol:g})"
    else:
        bound = a_tol * scale
        close = bool(np.allclose(o64, r64, rtol=r_tol, atol=bound, equal_nan=True))
        ok = identical or (max_abs <= bound and close)
        desc = f"max|d| <= {bound:.3g} and allclose(rtol={r_tol:g}, atol={bound:.3g})"
    return Verdict(max_abs, max_abs / scale, cosine, agree, identical, ok, desc)


def assert_close(ref: np.ndarray | torch.Tensor, out: np.ndarray | torch.Tensor, rule: str = "exact",
                 name: str = "output") -> Verdict:
    """compare(), raising AssertionError with the verdict line when the rule fails."""
    v = compare(ref, out, rule)
    if not v.ok:
        raise AssertionError(v.line(name))
    return v
