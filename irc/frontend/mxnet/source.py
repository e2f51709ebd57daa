"""Reading MXNet files: the `-symbol.json` graph (recognised cheaply by `is_mxnet_symbol`) and its `.params`."""

from __future__ import annotations

import json
import os

from ...ir import IrcError

_EDGE = 4096  # bytes read at each end of a file to recognise a symbol


def is_mxnet_symbol(path: str) -> bool:
    """An MXNet symbol: a JSON object whose head names "nodes" and whose tail names "arg_nodes" and "heads"
    (cheap: the two ends of the file are read; never raises)."""
    try:
        with open(path, "rb") as f:
            head = f.read(_EDGE)
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - _EDGE))
            tail = f.read(_EDGE)
    except (OSError, TypeError, ValueError):
        return False
    if not head.lstrip().startswith(b"{") or b"\0" in head:
        return False
    whole = head + tail
    return b'"nodes"' in head and b'"arg_nodes"' in whole and b'"heads"' in whole


def load_symbol(path: str) -> dict:
    """The symbol graph of a `-symbol.json`, checked for the fields irc reads."""
    try:
        with open(path, encoding="utf-8") as f:
            graph = json.load(f)
    except OSError as e:
        raise IrcError(f"cannot read {path}: {e.strerror or e}") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise IrcError(f"cannot read {path}: not a JSON symbol ({e})") from None
    if not isinstance(graph, dict) or not all(k in graph for k in ("nodes", "arg_nodes", "heads")):
        raise IrcError(f"{path} is not an MXNet symbol (no nodes, arg_nodes and heads)")
    for i, node in enumerate(graph["nodes"]):
        if not isinstance(node, dict) or "op" not in node or "name" not in node:
            raise IrcError(f"{path}: node {i} has no op or name")
        for entry in node.get("inputs", []):
            if not (isinstance(entry, list) and len(entry) >= 2 and 0 <= entry[0] < i):
                raise IrcError(f"{path}: node {i} ({node['name']}) reads {entry}, not an earlier node's output")
    return graph


__all__ = ["is_mxnet_symbol", "load_symbol"]
