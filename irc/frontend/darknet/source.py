"""Darknet files: recognising a `.cfg` by its content, and reading a `.weights` file.

A `.weights` file is a header of int32 major, minor, revision and the count of images seen (uint64 when
major * 10 + minor >= 2, else uint32), then raw little-endian float32s, layer after layer in cfg order.
Weights written transposed (major or minor above 1000) are refused, as OpenCV refuses them.
"""

from __future__ import annotations

import os

import numpy as np

from ...ir import IrcError
from .cfg import NET_SECTIONS

SNIFF_BYTES = 65536


def is_darknet_file(path: str) -> bool:
    """Whether `path` is a Darknet cfg: a text whose first section, after blank and comment lines, is
    `[net]` or `[network]`. Reads at most 64 KiB; never raises."""
    try:
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
    except (OSError, TypeError, ValueError):
        return False
    if b"\0" in head:
        return False
    for raw in head.decode("utf-8", errors="replace").splitlines():
        line = "".join(raw.split())
        if not line or line[0] in "#;":
            continue
        return line.lower() in tuple(f"[{name}]" for name in NET_SECTIONS)
    return False


class WeightsReader:
    """The floats of a `.weights` file, taken in order by the layers that own them.

    `take(n)` hands out the next `n` floats; past the end of the file it hands out zeros and keeps counting,
    so that `check()` can say how many floats the cfg expects against how many the file has."""

    def __init__(self, path: str):
        self.path = path
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise IrcError(f"{path}: cannot read: {e.strerror or e}") from None
        self.version, self.header_bytes = self._header(data)
        body = len(data) - self.header_bytes
        if body % 4:
            raise IrcError(f"{path}: {body} bytes of weights after the header is not a whole number of float32s")
        self.floats = np.frombuffer(data, dtype="<f4", offset=self.header_bytes)
        self.cursor = 0

    def _header(self, data: bytes) -> tuple[tuple[int, int, int], int]:
        if len(data) < 16:
            raise IrcError(f"{self.path}: too short for a Darknet weights header ({len(data)} bytes)")
        major, minor, revision = (int(v) for v in np.frombuffer(data, dtype="<i4", count=3))
        if major > 1000 or minor > 1000:
            raise IrcError(f"{self.path}: weights stored transposed (version {major}.{minor}) are not supported")
        seen_bytes = 8 if major * 10 + minor >= 2 else 4
        if len(data) < 12 + seen_bytes:
            raise IrcError(f"{self.path}: too short for a Darknet weights header ({len(data)} bytes)")
        return (major, minor, revision), 12 + seen_bytes

    def take(self, count: int) -> np.ndarray:
        """The next `count` floats (a copy; zeros for any past the end of the file)."""
        start, self.cursor = self.cursor, self.cursor + count
        out = np.zeros(count, np.float32)
        have = max(0, min(self.cursor, len(self.floats)) - start)
        out[:have] = self.floats[start:start + have]
        return out

    def check(self) -> None:
        """Refuse a file whose size does not match what the cfg's layers took."""
        if self.cursor != len(self.floats):
            state = "truncated" if self.cursor > len(self.floats) else "too long"
            raise IrcError(f"{self.path}: the cfg expects {self.cursor} floats of weights after the "
                           f"{self.header_bytes}-byte header, the file has {len(self.floats)} ({state}; "
                           f"is it the weights of this cfg?)")


def default_weights(cfg_path: str) -> str:
    """The weights file beside a cfg: `yolov3-tiny.cfg` -> `yolov3-tiny.weights`."""
    path = os.path.splitext(cfg_path)[0] + ".weights"
    if not os.path.isfile(path):
        raise IrcError(f"{cfg_path}: a Darknet model needs its .weights file (--weights FILE; "
                       f"{os.path.basename(path)} is not beside the cfg)")
    return path


__all__ = ["WeightsReader", "default_weights", "is_darknet_file"]
