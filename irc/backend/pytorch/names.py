"""Names in model.py: every identifier is ASCII `[A-Za-z_][A-Za-z0-9_]*`, nothing from the model
reaches the file unsanitised (see `emitter.py` for the whole rule)."""

from __future__ import annotations

import keyword
import re
import unicodedata
from collections.abc import Iterable

from ...ir.core import uniquify

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def sanitize(name: str, digit_prefix: str = "_") -> str:
    """Any string → an ASCII Python identifier that keeps what it can of the name.

    Accents are dropped (é → e), other non-ASCII letters become uXXXX, every run of other characters
    one `_`; a leading digit gets `digit_prefix`; a keyword gets a trailing `_`.
    """
    out = []
    for ch in unicodedata.normalize("NFKD", name):
        if ch.isascii():
            out.append(ch if (ch.isalnum() or ch == "_") else "_")
        elif unicodedata.combining(ch):
            continue
        else:
            out.append(f"_u{ord(ch):04x}_")
    s = re.sub(r"_+", "_", "".join(out))
    if s not in ("_",):
        s = s.strip("_") if not name.startswith("_") else "_" + s.strip("_")
    s = s.rstrip("_") or "v"
    if s[0].isdigit():
        s = digit_prefix + s
    if keyword.iskeyword(s) or keyword.issoftkeyword(s):
        s += "_"
    return s


def class_name(name: str) -> str:
    """`resnet50` → `Resnet50`, `tiny_yolo-v2` → `TinyYoloV2`."""
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", sanitize(name)) if p]
    s = "".join(p[0].upper() + p[1:] for p in parts) or "Model"
    return "Model" + s if s[0].isdigit() else s


def module_attrs() -> set[str]:
    """The attribute names an nn.Module already has (a submodule may not take them)."""
    from torch import nn

    return set(dir(nn.Module())) | {"forward", "training"}  # an instance: `training` etc. are set in __init__


def clean_segment(seg: str, reserved: set[str]) -> bool:
    """Whether a key path segment can be an attribute name as is (or a plain index)."""
    if seg.isascii() and seg.isdigit():
        return seg == str(int(seg))
    return (seg.isascii() and bool(IDENT.match(seg)) and not keyword.iskeyword(seg) and not seg.startswith("__")
            and seg not in reserved)


class Names:
    """Collision-free local names: `sanitize`, then `_1`, `_2`, ... past anything taken or reserved."""

    def __init__(self, reserved: Iterable[str]):
        self.reserved = set(reserved)
        self.taken = set(reserved)

    def claim(self, raw: str, unused: bool = False) -> str:
        base = sanitize(raw, "v")
        if base in self.reserved:
            base += "_"
        if unused and not base.startswith("_"):
            base = "_" + base  # a result nobody reads (one of several results): ruff's dummy-variable form
        return uniquify(base, self.taken)


def attribute_name(raw: str, reserved: set[str], taken: set[str]) -> str:
    """A fresh attribute name for `raw` (sanitised; past `reserved` nn.Module names and `taken` ones)."""
    base = sanitize(raw)
    return uniquify(base + "_" if base in reserved else base, taken)
