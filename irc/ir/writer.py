"""The one way irc writes files: every output of every command goes through `write_files`.

- Each file is written to a temporary file beside its final path and renamed into place, with the
  permissions the user's umask gives (mkstemp's 0600 is corrected).
- A path that cannot be written (a read-only folder, `-o` naming a directory, a path under /proc)
  is a user error, `cannot write PATH: REASON`; no temporary file is left behind after any error.
- Several files written together (`m.ir` + `m.safetensors`, `model.py` + `model.safetensors`) are one
  unit: once every temporary is complete, a small journal naming the renames is itself renamed into
  place (the commit point), the renames follow, and the journal is removed. A reader that finds a
  journal (`finish_pending_writes`, which every irc reader and the emitted `load()` call first)
  completes the renames before it reads, so even after a kill at any moment it sees the old set of
  files or the new set, never a mix.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable

from .diagnostics import IrcError

JOURNAL_SUFFIX = ".irc-commit"


class WriteError(IrcError):
    pass


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _reason(e: OSError) -> str:
    return e.strerror or type(e).__name__


def _check_target(path: str, inputs: Iterable[str]) -> None:
    if os.path.isdir(path):
        raise WriteError(f"cannot write {path}: Is a directory")
    for src in inputs:
        if src and os.path.exists(path) and os.path.exists(src) and os.path.samefile(path, src):
            raise WriteError(f"refusing to overwrite the input file {path}; write to another file")


def _temp_beside(path: str) -> tuple[int, str]:
    directory = os.path.dirname(os.path.abspath(path))
    existing = directory
    while not os.path.exists(existing) and os.path.dirname(existing) != existing:
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise WriteError(f"cannot write {path}: Not a directory")
    try:
        os.makedirs(directory, exist_ok=True)
        return tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    except OSError as e:
        raise WriteError(f"cannot write {path}: {_reason(e)}") from None


def _unlink(path: str | None) -> None:
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass


def _write_temp(path: str, write: Callable) -> str:
    fd, tmp = _temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o666 & ~umask())
    except OSError as e:
        _unlink(tmp)
        raise WriteError(f"cannot write {path}: {_reason(e)}") from None
    except BaseException:
        _unlink(tmp)
        raise
    return tmp


def _journal_path(directory: str, first: str) -> str:
    return os.path.join(directory, "." + os.path.basename(first) + JOURNAL_SUFFIX)


def write_files(files: list[tuple[str, Callable]], inputs: Iterable[str] = ()) -> None:
    """Write each `(path, write)` (write(f) fills a binary file) as one unit; see the module doc.

    `inputs` are the paths being read: none of them is ever overwritten. Several files must share a
    folder; the last is the one readers open first (the .ir, model.py), renamed last."""
    inputs = [p for p in inputs if p]
    for path, _ in files:
        _check_target(path, inputs)
    temps: list[tuple[str, str]] = []
    try:
        for path, write in files:
            temps.append((_write_temp(path, write), path))
        if len(temps) == 1:
            os.replace(*temps[0])
            return
        _commit(temps)
    except OSError as e:
        raise WriteError(f"cannot write {temps[-1][1] if temps else files[0][0]}: {_reason(e)}") from None
    finally:
        for tmp, _ in temps:
            _unlink(tmp)  # nothing left after the renames; after an error, no temporary stays


def _commit(temps: list[tuple[str, str]]) -> None:
    directory = os.path.dirname(os.path.abspath(temps[0][1]))
    if any(os.path.dirname(os.path.abspath(final)) != directory for _, final in temps):
        raise ValueError("files written as one unit must share a folder")
    entries = [[os.path.basename(tmp), os.path.basename(final)] for tmp, final in temps]
    journal = _journal_path(directory, temps[-1][1])  # named after the file readers open first
    jtmp = _write_temp(journal, lambda f: f.write(json.dumps(entries).encode()))
    os.replace(jtmp, journal)  # the commit point: from here on, readers finish the renames
    _apply(directory, entries)
    _unlink(journal)


def _apply(directory: str, entries) -> None:
    for tmp, final in entries:
        src = os.path.join(directory, tmp)
        if os.path.exists(src):
            os.replace(src, os.path.join(directory, final))


def finish_pending_writes(path: str) -> None:
    """Complete an interrupted `write_files` whose last file (the one a reader opens first: the .ir,
    model.py) is `path`. Only renames `.NAME.*.tmp` → `NAME` within the folder that journal names."""
    directory = os.path.dirname(os.path.abspath(path)) or "."
    journal = _journal_path(directory, path)
    try:
        with open(journal, "rb") as f:
            entries = json.loads(f.read(1 << 16))
    except (OSError, ValueError):
        return
    if isinstance(entries, list) and all(_valid_entry(e) for e in entries):
        _apply(directory, entries)
        _unlink(journal)


def _valid_entry(entry) -> bool:
    if not (isinstance(entry, list) and len(entry) == 2 and all(isinstance(s, str) for s in entry)):
        return False
    tmp, final = entry
    return (final not in ("", ".", "..") and "/" not in final and os.sep not in final and "/" not in tmp
            and os.sep not in tmp and tmp.startswith("." + final + ".") and tmp.endswith(".tmp"))
