"""Writing the ONNX file: `emit_onnx` builds the model, checks it with onnx.checker (full_check) and writes
it through `irc.ir.writer.write_files` (a temporary beside the target renamed into place, the umask's
permissions, `cannot write PATH: REASON`, nothing left behind on an error).

Tensors above 2 GB in total go to external data (`<file>.data` beside the model): irc lays the weights
out in that file itself, back to back (offset and length in each tensor's `external_data`), and writes
the pair as one unit, the data file first and the .onnx last.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import BinaryIO

from ...ir import IrcError, Module
from ...ir.writer import write_files
from .emitter import DEFAULT_OPSET, build

TWO_GB = 2**31


def emit_onnx(module: Module, path: str, opset: int = DEFAULT_OPSET, external_data: bool | None = None,
              check: bool = True, progress: Callable[[str], None] | None = None) -> dict:
    """Write `module` as one .onnx file at `path` (atomically); returns a summary dict.

    external_data: None (default) puts the weights in `<path>.data` when tensors total more than 2 GB;
    True/False force it. The file is checked with onnx.checker.check_model(full_check=True).
    """
    if module.path and os.path.exists(path) and os.path.exists(module.path) and os.path.samefile(path, module.path):
        raise IrcError(f"refusing to overwrite the input file {path}")
    progress = progress or (lambda msg: None)
    progress("building the ONNX graph")
    model, params = build(module, opset)
    progress("writing " + os.path.basename(path))
    total = sum(len(t.raw_data) for t in model.graph.initializer)
    external = total > TWO_GB - 2**24 if external_data is None else bool(external_data)
    data_path = path + ".data"
    chunks = _externalize(model, params, os.path.basename(data_path)) if external else []
    kinds: dict = {}
    for op_type in [n.op_type for n in model.graph.node]:  # (a node object would keep the model alive)
        kinds[op_type] = kinds.get(op_type, 0) + 1
    n_nodes, n_inits = len(model.graph.node), len(model.graph.initializer)
    data = model.SerializeToString()  # once: the checker below reads the same bytes
    model = None  # the checker parses its own copy: keep one set of weights in memory, not two
    if check:
        progress("checking with onnx.checker (full_check)")
        _check(data, os.path.basename(path), os.path.basename(data_path) if chunks else None)
    files = [(path, lambda f: f.write(data))]
    if chunks:  # the data file first: the .onnx, which names it, is the file readers open
        files.insert(0, (data_path, lambda f: _write_chunks(f, chunks)))
    write_files(files, inputs=[module.path])
    directory = os.path.dirname(os.path.abspath(path)) or "."
    return {"path": path, "opset": opset, "nodes": n_nodes, "initializers": n_inits, "bytes": total,
            "external_data": os.path.join(directory, os.path.basename(data_path)) if external else None,
            "node_kinds": kinds}


def _externalize(model, params: set, location: str) -> list:
    """Move the params' bytes out of the model: each gets `external_data` (location, offset, length), back to back
    in one file; returns the bytes in file order. Small shape/axes tensors stay inline, where shape inference
    reads them."""
    from onnx.external_data_helper import set_external_data

    chunks, offset = [], 0
    for t in model.graph.initializer:
        if t.name in params:
            raw = t.raw_data
            set_external_data(t, location, offset, len(raw))
            t.ClearField("raw_data")
            chunks.append(raw)
            offset += len(raw)
    return chunks


def _write_chunks(out_file: BinaryIO, chunks: list) -> None:
    for i, raw in enumerate(chunks):
        out_file.write(raw)
        chunks[i] = None  # each tensor's bytes freed once written


def _check(data: bytes, name: str, data_name: str | None) -> None:
    """onnx.checker.check_model(full_check=True) on the bytes about to be written.

    With external data the checker resolves the data file beside the model and asks only that it be a regular
    file (it reads no weights): the model is checked as a file in a temporary folder beside an empty stand-in."""
    import onnx

    if data_name is None:
        _run_checker(onnx.checker, data)
        return
    with tempfile.TemporaryDirectory(prefix="irc-onnx-check.") as folder:
        with open(os.path.join(folder, data_name), "wb"):
            pass
        model_path = os.path.join(folder, name)
        with open(model_path, "wb") as f:
            f.write(data)
        _run_checker(onnx.checker, model_path)


def _run_checker(checker, model) -> None:
    try:
        checker.check_model(model, full_check=True)
    except Exception as e:  # a bug in a mapping, not a user error; say which
        raise IrcError(f"the ONNX model irc built fails onnx.checker: {str(e).strip().splitlines()[0]}") from e
