"""Numbers for the one-line summaries the commands print: op counts, parameter count and bytes."""

from __future__ import annotations

from collections import Counter

from .core import Module
from .structure import flatten
from .weights import ITEMSIZE


def op_counts(module: Module) -> Counter:
    """Ops by kind, every block counted once per call."""
    return Counter(op.kind for op in flatten(module).ops())


def param_stats(module: Module) -> tuple[int, int]:
    """(number of parameters, bytes) over the distinct weight keys the module uses."""
    seen, count, nbytes = set(), 0, 0
    for op in flatten(module).ops():
        if op.name == "nn.param" and op.attrs["key"] not in seen:
            seen.add(op.attrs["key"])
            t = op.result.type
            n = t.numel() or 0
            count += n
            nbytes += n * ITEMSIZE[t.dtype]
    return count, nbytes


def human(n: float, unit: str = "") -> str:
    for suffix in ("", "K", "M", "G", "T"):
        if abs(n) < 1000 or suffix == "T":
            return f"{n:.0f}{suffix}{unit}" if suffix == "" else f"{n:.1f}{suffix}{unit}"
        n /= 1000
    return str(n)


def summary(module: Module) -> str:
    counts = op_counts(module)
    total = sum(counts.values())
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    params, nbytes = param_stats(module)
    return f"{total} ops ({kinds}); {human(params)} parameters, {human(nbytes, 'B')}"
