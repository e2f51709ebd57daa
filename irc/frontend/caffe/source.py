"""Reading Caffe files: the prototxt (the net) and the caffemodel (its weights, matched to layers by name)."""

from __future__ import annotations

import os
import re

import numpy as np

from ...formats import caffe as schema
from ...ir import IrcError

_HEAD = 65536  # bytes read to recognise a prototxt
_PROTOTXT = re.compile(rb"(^|[\s{])(layers?\s*\{|input\s*:\s*\")")


def is_caffe_file(path: str) -> bool:
    """A Caffe prototxt: text with a `layer {` / `layers {` block or an `input: "NAME"` field (cheap, never raises)."""
    try:
        with open(path, "rb") as f:
            head = f.read(_HEAD)
    except (OSError, TypeError, ValueError):
        return False
    if b"\0" in head:
        return False
    return _PROTOTXT.search(head) is not None


def _read(path: str, mode: str) -> str | bytes:
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError as e:
        raise IrcError(f"cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise IrcError(f"cannot read {path}: not a text prototxt") from None


def load_net(path: str) -> object:
    """The NetParameter of a prototxt file."""
    return schema.parse_text(_read(path, "r"), os.path.basename(path))


def load_blobs(path: str) -> dict[str, list[np.ndarray]]:
    """{layer name: its blobs as float32 arrays} of a caffemodel (current or legacy form)."""
    net = schema.parse_binary(_read(path, "rb"), os.path.basename(path))
    return {layer.name: [schema.blob_array(b) for b in layer.blobs] for layer in schema.layers(net) if layer.blobs}


__all__ = ["is_caffe_file", "load_blobs", "load_net"]
