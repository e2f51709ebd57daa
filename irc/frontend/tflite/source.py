"""Reading a .tflite file: the flatbuffer (file identifier "TFL3" at bytes 4..8) unpacked with ai_edge_litert's
object API into a `ModelT`."""

from __future__ import annotations

import os

from ...ir import IrcError

IDENTIFIER = b"TFL3"


def is_tflite_file(path: str | os.PathLike) -> bool:
    """Whether `path` holds a TFLite flatbuffer, by content (bytes 4..8 are b"TFL3"); never raises."""
    try:
        with open(os.fspath(path), "rb") as f:
            return f.read(8)[4:8] == IDENTIFIER
    except (OSError, TypeError, ValueError):
        return False


def schema() -> object:
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError as e:
        raise IrcError(f"reading TFLite needs ai-edge-litert (pip install 'irc[tflite]'): {e}") from None
    return schema_py_generated


def load_tflite(path: str | os.PathLike) -> object:
    """The file's `ModelT` (an IrcError for a missing file or one that is not TFLite)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise IrcError(f"{path}: no such file")
    with open(path, "rb") as f:
        data = f.read()
    if data[4:8] != IDENTIFIER:
        raise IrcError(f"{path}: not a TFLite model (no 'TFL3' file identifier)")
    try:
        model = schema().ModelT.InitFromPackedBuf(bytearray(data), 0)
    except Exception as e:  # noqa: BLE001  (a damaged flatbuffer fails anywhere inside the generated code)
        raise IrcError(f"{path}: cannot read this TFLite file: {type(e).__name__}: {e}") from None
    if not model.subgraphs:
        raise IrcError(f"{path}: the TFLite model has no subgraph")
    return model


__all__ = ["is_tflite_file", "load_tflite", "schema"]
