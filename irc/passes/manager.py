"""The pass manager: parse a pipeline ('a,b{opt=v}'), run it, verify after every pass."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from typing import TextIO

from ..ir import Module, verify
from ..ir.printer import print_module
from ..ir.structure import flatten, outline
from .base import Pass, PassError

REGISTRY: dict[str, type[Pass]] = {}


def register(cls: type[Pass]) -> type[Pass]:
    if cls.name in REGISTRY:
        raise ValueError(f"pass {cls.name} registered twice")
    REGISTRY[cls.name] = cls
    return cls


_ITEM = re.compile(r"\s*([A-Za-z0-9_-]+)\s*(?:\{([^{}]*)\})?\s*(?:,|$)")


def parse_pipeline(specs: str | Iterable[str]) -> list[Pass]:
    """['canonicalize,fuse-bn', 'dce{...}'] → pass objects. Raises PassError naming what is wrong."""
    if isinstance(specs, str):
        specs = [specs]
    passes = []
    for spec in specs:
        pos = 0
        spec = spec.strip()
        while pos < len(spec):
            m = _ITEM.match(spec, pos)
            if not m or m.end() == pos:
                raise PassError(f"cannot read pass pipeline '{spec}' at '{spec[pos:]}' "
                                "(expected 'name' or 'name{option=value,...}', separated by commas)")
            name, opts = m.group(1), m.group(2)
            cls = REGISTRY.get(name)
            if cls is None:
                raise PassError(f"unknown pass '{name}' (known: {', '.join(sorted(REGISTRY))})")
            raw = {}
            for item in (opts or "").split(","):
                if not item.strip():
                    continue
                if "=" not in item:
                    raise PassError(f"option '{item.strip()}' of pass '{name}' needs a value: {item.strip()}=...")
                k, v = item.split("=", 1)
                raw[k.strip()] = v.strip()
            passes.append(cls.with_options(raw))
            pos = m.end()
    return passes


def run_passes(module: Module, passes: str | Sequence[Pass | str], verify_each: bool = True,
               print_after_all: TextIO | bool | None = None, strip_locs: bool = False) -> Module:
    """Run passes (objects or a pipeline string) on `module` in place and return it.

    The module is verified before the first pass (unless that pass repairs types, like infer-shapes)
    and, with `verify_each`, after every pass.

    `print_after_all`: a file-like object that gets `// ----- IR after NAME -----` and the IR after each pass.
    """
    if isinstance(passes, str) or any(isinstance(p, str) for p in passes):
        passes = parse_pipeline(passes)
    if passes and passes[0].needs_valid_input:
        verify(module)
    # passes see one flat function; the blocks are found again after them where the rewritten ones are
    # still alike (irc.ir.structure)
    work = flatten(module)
    for p in passes:
        p.apply(work)
        if verify_each:
            verify(work)
        if print_after_all is not None:
            out = print_after_all if print_after_all is not True else sys.stdout
            out.write(f"// ----- IR after {p.name} -----\n")
            out.write(print_module(outline(flatten(work, copy=True)) if work is not module else work,
                                   strip_locs=strip_locs))
    if work is not module:
        outline(work)
        module.funcs = work.funcs
        for f in module.funcs:
            f.module = module
        verify(module)
    return module
