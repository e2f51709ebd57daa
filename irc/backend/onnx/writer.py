"""Writing the ONNX file: `emit_onnx` builds the model, checks it with onnx.checker (full_check) and writes
it through `irc.ir.writer.write_files` (a temporary beside the target renamed into place, the umask's
permissions, `cannot write PATH: REASON`, nothing left behind on an error).

The weights never enter a ModelProto: the model is built with each param's initializer holding only its
name, dims and type, checked like that (the params as external data beside an empty stand-in, which the
checker only asks to be a file), and written by streaming each param's bytes from the weight store into
the place protobuf would put them. The file is byte for byte what `SerializeToString` of the whole model
gives (protobuf writes fields in field-number order, raw_data last of a TensorProto's), without the copies:
at most one tensor's bytes are held apart from the store.

Tensors above 2 GB in total go to external data (`<file>.data` beside the model): irc lays the weights
out in that file itself, back to back (offset and length in each tensor's `external_data`), and writes
the pair as one unit, the data file first and the .onnx last.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from typing import BinaryIO

from ...ir import IrcError, Module
from ...ir.structure import flatten
from ...ir.writer import write_files
from .emitter import DEFAULT_OPSET, build

TWO_GB = 2**31
MODEL_GRAPH = 7  # ModelProto.graph
GRAPH_INITIALIZER = 5  # GraphProto.initializer
TENSOR_RAW_DATA = 9  # TensorProto.raw_data


def emit_onnx(module: Module, path: str, opset: int = DEFAULT_OPSET, external_data: bool | None = None,
              check: bool = True, progress: Callable[[str], None] | None = None) -> dict:
    """Write `module` as one .onnx file at `path` (atomically); returns a summary dict.

    external_data: None (default) puts the weights in `<path>.data` when tensors total more than 2 GB;
    True/False force it. The file is checked with onnx.checker.check_model(full_check=True).
    """
    module = flatten(module)  # the blocks inlined (irc.ir.structure)
    if module.path and os.path.exists(path) and os.path.exists(module.path) and os.path.samefile(path, module.path):
        raise IrcError(f"refusing to overwrite the input file {path}")
    progress = progress or (lambda msg: None)
    progress("building the ONNX graph")
    model, params = build(module, opset, lazy_params=True)
    store = module.weights
    sizes = {name: store.nbytes(key) for name, key in params.items()}
    total = sum(len(t.raw_data) for t in model.graph.initializer) + sum(sizes.values())
    external = total > TWO_GB - 2**24 if external_data is None else bool(external_data)
    data_path = path + ".data"
    kinds: dict = {}
    for op_type in [n.op_type for n in model.graph.node]:  # (a node object would keep the model alive)
        kinds[op_type] = kinds.get(op_type, 0) + 1
    n_nodes, n_inits = len(model.graph.node), len(model.graph.initializer)
    if external:
        _externalize(model, sizes, os.path.basename(data_path))
    if check:
        progress("checking with onnx.checker (full_check)")
        _check(model, sizes, os.path.basename(path), os.path.basename(data_path))
    progress("writing " + os.path.basename(path))
    if external:
        files = [(data_path, lambda f: _write_params(f, store, params, model)),  # first: the .onnx names it
                 (path, lambda f: f.write(model.SerializeToString()))]
    else:
        files = [(path, lambda f: _write_model(f, model, store, params, sizes))]
    write_files(files, inputs=[module.path])
    directory = os.path.dirname(os.path.abspath(path)) or "."
    return {"path": path, "opset": opset, "nodes": n_nodes, "initializers": n_inits, "bytes": total,
            "external_data": os.path.join(directory, os.path.basename(data_path)) if external else None,
            "node_kinds": kinds}


def _externalize(model: object, sizes: dict, location: str) -> None:
    """Give each param `external_data` (location, offset, length), back to back in one file, in initializer order.
    Small shape/axes tensors stay inline, where shape inference reads them."""
    offset = 0
    for t in model.graph.initializer:
        if t.name in sizes:
            _set_external(t, location, offset, sizes[t.name])
            offset += sizes[t.name]


def _set_external(tensor: object, location: str, offset: int, length: int) -> None:
    from onnx.external_data_helper import set_external_data

    tensor.raw_data = b""  # (onnx's helper asks for the field it replaces)
    set_external_data(tensor, location, offset, length)
    tensor.ClearField("raw_data")


def _write_params(out_file: BinaryIO, store: object, params: dict, model: object) -> None:
    """The external data file: each param's bytes, in initializer order (copied file to file from a weight file)."""
    for t in model.graph.initializer:
        if t.name in params:
            store.write_tensor(params[t.name], out_file)


# ----------------------------------------------------------------------------- protobuf, streamed


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, length: int) -> bytes:
    """The tag and length of a length-delimited field."""
    return _varint(number << 3 | 2) + _varint(length)


def _split(message: object, number: int) -> tuple[bytes, bytes]:
    """`message` serialised without field `number`: (the fields numbered below it, those above it)."""
    below, above = type(message)(), type(message)()
    below.CopyFrom(message)
    above.CopyFrom(message)
    for field in message.DESCRIPTOR.fields:
        if field.number >= number:
            below.ClearField(field.name)
        if field.number <= number:
            above.ClearField(field.name)
    return below.SerializeToString(), above.SerializeToString()


def _initializer_parts(model: object, params: dict, sizes: dict) -> Iterator[tuple[bytes, str | None, int]]:
    """(serialised initializer up to its data, param name or None, data bytes) per initializer, in order."""
    for t in model.graph.initializer:
        head = t.SerializeToString()
        if t.name not in params:
            yield _field(GRAPH_INITIALIZER, len(head)) + head, None, 0
            continue
        n = sizes[t.name]
        head += _field(TENSOR_RAW_DATA, n)
        yield _field(GRAPH_INITIALIZER, len(head) + n) + head, t.name, n


def _write_model(out_file: BinaryIO, model: object, store: object, params: dict, sizes: dict) -> None:
    """The whole model, its params' bytes streamed from the store into their initializers."""
    graph = model.graph
    graph_head, graph_tail = _split(graph, GRAPH_INITIALIZER)
    model_head, model_tail = _split(model, MODEL_GRAPH)
    parts = list(_initializer_parts(model, params, sizes))
    graph_len = len(graph_head) + sum(len(head) + n for head, _, n in parts) + len(graph_tail)
    out_file.write(model_head + _field(MODEL_GRAPH, graph_len) + graph_head)
    for head, name, n in parts:
        out_file.write(head)
        if name is not None:
            if store.nbytes(params[name]) != n:
                raise IrcError(f"param '{params[name]}' changed size while being written")
            store.write_tensor(params[name], out_file)  # from memory, or file to file: never mapped
    out_file.write(graph_tail + model_tail)


# ----------------------------------------------------------------------------- the check


def _check(model: object, sizes: dict, name: str, data_name: str) -> None:
    """onnx.checker.check_model(full_check=True) on the model as it will be written, its params as external data
    beside an empty stand-in (the checker resolves the data file and asks only that it be a regular file; it
    reads no weights): the model is checked as a file in a temporary folder."""
    import onnx

    checked = onnx.ModelProto()
    checked.CopyFrom(model)  # the params hold no data: a small copy
    for t in checked.graph.initializer:
        if t.name in sizes and not t.external_data:
            _set_external(t, data_name, 0, 0)
    with tempfile.TemporaryDirectory(prefix="irc-onnx-check.") as folder:
        with open(os.path.join(folder, data_name), "wb"):
            pass
        model_path = os.path.join(folder, name)
        with open(model_path, "wb") as f:
            f.write(checked.SerializeToString())
        _run_checker(onnx.checker, model_path)


def _run_checker(checker: object, model: object) -> None:
    try:
        checker.check_model(model, full_check=True)
    except Exception as e:  # a bug in a mapping, not a user error; say which
        raise IrcError(f"the ONNX model irc built fails onnx.checker: {str(e).strip().splitlines()[0]}") from e
