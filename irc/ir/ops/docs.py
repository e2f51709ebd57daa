"""docs/ops.md, generated from the registry (never written by hand)."""

from __future__ import annotations

from collections import defaultdict

from .registry import OPS, format_attr_doc

FAMILY_TITLES = {"core": "Parameters, constants and casts", "conv": "Convolution", "pool": "Pooling",
                 "elementwise": "Element-wise", "linalg": "Matrix products", "norm": "Normalisation and softmax",
                 "shape": "Data movement", "reduce": "Reductions", "resize": "Resizing"}


def render() -> str:
    by_family = defaultdict(list)
    for opdef in OPS.values():
        by_family[opdef.family].append(opdef)
    out = ["# irc op reference", "",
           "Generated from the op registry (`irc/ir/ops/`) by `python -m irc.tools.gen_docs`; do not edit by hand.",
           "Operands marked `?` are optional, `*` variadic. Attributes without a default are required; an attribute",
           "at its default is not printed.", ""]
    for family in sorted(by_family, key=lambda f: (list(FAMILY_TITLES).index(f) if f in FAMILY_TITLES else 99, f)):
        out += [f"## {FAMILY_TITLES.get(family, family.title())}", ""]
        for opdef in sorted(by_family[family], key=lambda o: o.name):
            operands = ", ".join(f"%{o}" for o in opdef.operands)
            out += [f"### `{opdef.name}`", "", opdef.doc, "", f"`%r = {opdef.name}({operands})`", ""]
            if opdef.attrs:
                out += ["| attribute | kind | |", "|---|---|---|"]
                for a in opdef.attrs.values():
                    out.append(f"| `{a.name}` | {a.describe()} | {a.doc} |")
                out.append("")
            n = opdef.num_results
            if callable(n):  # the count rule's docstring says what it counts (split's lambda: its sizes)
                out += [f"Results: {(n.__doc__ or 'one per entry of `sizes`.').strip()}", ""]
            if opdef.axis_attrs:
                axes = ", ".join(f"`{a}`" for a in opdef.axis_attrs)
                out += ["Axis attributes (rewritten by layout passes): " + axes, ""]
    return "\n".join(out).rstrip() + "\n"


__all__ = ["render", "format_attr_doc"]
