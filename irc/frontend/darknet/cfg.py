"""Reading a Darknet `.cfg`: an ini-like text of repeated `[section]`s, each a list of `key=value` lines.

As Darknet reads it: every whitespace character is dropped from a line, a line starting with `#` or `;` is a
comment, `[name]` opens a section, anything else must be `key=value` (a value may be a comma-separated list).
The first section is `[net]` (or `[network]`), the input; every other section is one layer, numbered from 0.
Darknet's short names (`[conv]`, `[max]`, `[avg]`, `[soft]`, `[conn]`) are read as the long ones.
A key given twice in one section is refused (Darknet takes the first, OpenCV the last).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from ...ir import IrcError

NET_SECTIONS = ("net", "network")
# Darknet's short section names, read as the long ones
ALIASES = {"network": "net", "conv": "convolutional", "conn": "connected", "max": "maxpool", "avg": "avgpool",
           "soft": "softmax"}
_SPACE = re.compile(r"\s+")
_REQUIRED = object()


@dataclass
class Option:
    value: str
    line: int


@dataclass
class Section:
    """One `[kind]` of a cfg file: its options by key, the line it starts on, and the keys read so far."""

    kind: str
    line: int
    path: str
    options: dict[str, Option] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)

    def has(self, key: str) -> bool:
        return key in self.options

    def where(self, key: str | None = None) -> str:
        line = self.options[key].line if key in self.options else self.line
        return f"{self.path}:{line}"

    def text(self, key: str, default: object = _REQUIRED) -> str:
        """The raw value of `key`; a missing key without a default is an error naming the section."""
        self.used.add(key)
        if key in self.options:
            return self.options[key].value
        if default is _REQUIRED:
            raise IrcError(f"{self.where()}: [{self.kind}] needs '{key}='")
        return default

    def integer(self, key: str, default: object = _REQUIRED) -> int:
        return self._number(key, default, int, "an integer")

    def number(self, key: str, default: object = _REQUIRED) -> float:
        return self._number(key, default, float, "a number")

    def integers(self, key: str, default: object = _REQUIRED) -> list[int]:
        """A comma-separated list of integers (`layers=-1,8`)."""
        raw = self.text(key, default)
        if not isinstance(raw, str):
            return raw
        try:
            return [int(part) for part in raw.split(",") if part != ""]
        except ValueError:
            raise IrcError(f"{self.where(key)}: {key}={raw} is not a list of integers") from None

    def numbers(self, key: str, default: object = _REQUIRED) -> list[float]:
        raw = self.text(key, default)
        if not isinstance(raw, str):
            return raw
        try:
            return [float(part) for part in raw.split(",") if part != ""]
        except ValueError:
            raise IrcError(f"{self.where(key)}: {key}={raw} is not a list of numbers") from None

    def _number(self, key: str, default: object, kind: type, what: str) -> object:
        raw = self.text(key, default)
        if not isinstance(raw, str):
            return raw
        try:
            return kind(raw)
        except ValueError:
            raise IrcError(f"{self.where(key)}: {key}={raw} is not {what}") from None


def _header(text: str, where: str) -> str:
    if not text.endswith("]") or len(text) < 3:
        raise IrcError(f"{where}: a section header must be '[name]', got '{text}'")
    kind = text[1:-1].lower()
    return ALIASES.get(kind, kind)


def parse_cfg(text: str, path: str = "<cfg>") -> list[Section]:
    """The sections of a cfg text, in order; the first is `[net]`/`[network]`."""
    sections: list[Section] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _SPACE.sub("", raw)
        where = f"{path}:{number}"
        if not line or line[0] in "#;":
            continue
        if line[0] == "[":
            sections.append(Section(_header(line, where), number, path))
            continue
        key, sep, value = line.partition("=")
        if not sep or not key:
            raise IrcError(f"{where}: expected 'key=value' or '[section]', got '{raw.strip()}'")
        if not sections:
            raise IrcError(f"{where}: '{key}=' comes before the first section ([net])")
        options = sections[-1].options
        if key in options:
            raise IrcError(f"{where}: '{key}=' is given twice in [{sections[-1].kind}] (first at line "
                           f"{options[key].line})")
        options[key] = Option(value, number)
    if not sections or sections[0].kind != "net":
        raise IrcError(f"{path}: a Darknet cfg starts with a [net] section")
    return sections


def read_cfg(path: str) -> list[Section]:
    """The sections of the cfg file at `path` (errors name the file)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as e:
        raise IrcError(f"{path}: cannot read: {e.strerror or e}") from None
    return parse_cfg(text, os.path.basename(path))


__all__ = ["ALIASES", "NET_SECTIONS", "Option", "Section", "parse_cfg", "read_cfg"]
