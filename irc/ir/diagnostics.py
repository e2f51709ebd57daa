"""MLIR-style diagnostics: `file:line:col: error: message`, the source line, a caret, and notes."""

from __future__ import annotations

from dataclasses import dataclass, field

from .core import FileLoc, NameLoc, file_locs


class IrcError(Exception):
    """A user error. `str(e)` is the complete message to show; tools print it and exit 1."""


@dataclass
class Diagnostic:
    message: str
    pos: tuple | None = None  # (line, col), 1-based
    severity: str = "error"
    notes: list = field(default_factory=list)  # (pos or None, text)

    def render(self, path: str | None, lines: list[str] | None) -> str:
        out = [_head(path, self.pos, self.severity, self.message)]
        out += _snippet(self.pos, lines)
        for pos, text in self.notes:
            out.append(_head(path, pos, "note", text))
        return "\n".join(out)


def _head(path, pos, severity, message):
    where = path or "<input>"
    if pos:
        where += f":{pos[0]}:{pos[1]}"
    return f"{where}: {severity}: {message}"


def _snippet(pos, lines):
    if not pos or not lines or not (1 <= pos[0] <= len(lines)):
        return []
    line = lines[pos[0] - 1].rstrip("\n")
    caret = "".join(c if c == "\t" else " " for c in line[: pos[1] - 1]) + "^"
    return [line, caret]


def loc_note(loc: object) -> str | None:
    """'op came from "resnet.py":268:12 (layer1.0.conv1)' for an op's loc, or None."""
    if loc is None:
        return None
    parts = [f'"{f.file}":{f.line}:{f.col}' for f in file_locs(loc)]
    name = loc.name if isinstance(loc, NameLoc) else None
    if not parts and not name:
        return None
    text = "op came from " + (", ".join(parts) if parts else f'"{name}"')
    if name and parts:
        text += f" ({name})"
    return text


class DiagnosticError(IrcError):
    """One or more diagnostics about a text; renders them all."""

    def __init__(self, diagnostics: list[Diagnostic], path: str | None = None, text: str | None = None):
        self.diagnostics = diagnostics
        self.path = path
        self.lines = text.splitlines() if text is not None else None
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(d.render(self.path, self.lines) for d in self.diagnostics)


__all__ = ["Diagnostic", "DiagnosticError", "FileLoc", "IrcError", "loc_note"]
