"""The Caffe emitter driver: one `CaffeEmitter` walks the IR function and builds one NetParameter (current
`layer` form) and the blobs of each layer.

Each IR op is emitted by its family's function in `EMITTERS` (`@emits("conv2d")`), called as
`fn(emitter, op, ins, outs)` with the blob names of the operands (None for a weight: a param or constant,
read with `emitter.array`) and of the results; it adds layers with `emitter.layer`. Blob names are the IR
value names and each layer is named after the blob it computes (helper layers and blobs get
`<result>__<what>`), so OpenCV's per-layer outputs are the IR's values. The driver names no op: every
op kind without a mapping, and every op its mapping refuses (asymmetric padding, ...), is listed in one
error before anything is written.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from ...formats.caffe import encode_model, message, to_text
from ...ir import IrcError, Module, Value
from ...ir.core import uniquify
from ...ir.dense import weight_values
from ...ir.ops import OPS
from ...ir.structure import flatten
from ...ir.table import OpTable
from ...ir.writer import write_files

EMITTERS = OpTable("Caffe emitter", ir_keys=True)  # "nn.conv2d" -> fn(emitter, op, ins, outs)
emits = EMITTERS.register

STRUCTURAL = ("nn.param", "nn.constant")  # weights, read by the layers that use them
MAX_LISTED = 8


class Refused(Exception):
    """This op cannot be written as Caffe layers; the message says why (collected and reported together)."""


class CaffeEmitter:
    """The net being built: its layers, each layer's blobs, and the blob names taken."""

    def __init__(self, module: Module):
        self.module = module
        self.func = module.main
        self.net = message("NetParameter")(name=module.name)
        self.weights: list[list[np.ndarray]] = []
        self.taken = {v.name for v in self.func.values()}

    # -- what emitters use

    def layer(self, kind: str, name: str, bottoms: Sequence[str], tops: Sequence[str],
              blobs: Sequence[np.ndarray] = (), **params: dict) -> object:
        """Add one layer of type `kind`; `params` are its parameter messages as dicts
        (`convolution_param={"num_output": 8}`)."""
        layer = self.net.layer.add(name=name, type=kind, bottom=list(bottoms), top=list(tops))
        for field, values in params.items():
            getattr(layer, field).SetInParent()
            _fill(getattr(layer, field), values)
        self.weights.append([np.ascontiguousarray(b, dtype=np.float32) for b in blobs])
        return layer

    def tmp(self, out: str, what: str) -> str:
        """A helper blob's name: `<result>__<what>`."""
        return uniquify(f"{out}__{what}", self.taken)

    def is_weight(self, value: Value) -> bool:
        return value.owner is not None and value.owner.name in STRUCTURAL

    def array(self, value: Value) -> np.ndarray:
        """The values of a weight operand (a param or constant) as float32."""
        arr = weight_values(self.module, value)
        if arr is None:
            raise Refused(f"%{value.name} must be a weight (a param or constant): Caffe layers hold their own")
        return arr

    # -- the net

    def build(self) -> None:
        self._inputs()
        problems = self._unmapped()
        for op in self.func.ops:
            if op.name in STRUCTURAL or op.name not in EMITTERS:
                continue
            ins = [None if self.is_weight(v) else v.name for v in op.operands]
            try:
                if OPS[op.name].spatial and op.attrs["layout"] != "nchw":
                    raise Refused("channel-last (layout nhwc): Caffe is NCHW, run the nhwc-to-nchw pass first")
                EMITTERS[op.name](self, op, ins, [r.name for r in op.results])
            except Refused as e:
                problems.append(f"  %{op.results[0].name} = {op.name}: {e}")
        self._check_outputs(problems)
        if problems:
            raise IrcError("\n".join([f"cannot emit {self.module.name} as Caffe: {len(problems)} problem"
                                      f"{'s' if len(problems) != 1 else ''}; nothing was written"] + problems))

    def _inputs(self) -> None:
        """One Input layer per argument. A dynamic batch is written as 1 (Caffe's shapes are fixed; OpenCV and
        Caffe reshape the net to the batch they are given); any other dynamic dim is refused."""
        for arg in self.func.args:
            shape = list(arg.type.shape)
            if shape and shape[0] is None:
                shape[0] = 1
            if None in shape:
                raise IrcError(f"cannot emit {self.module.name} as Caffe: input %{arg.name} {arg.type} has a "
                               "dynamic dim other than the batch (Caffe inputs have fixed shapes)")
            self.layer("Input", arg.name, [], [arg.name], input_param={"shape": [{"dim": shape}]})

    def _unmapped(self) -> list[str]:
        """One line per op kind with no mapping, with the values it computes."""
        where: dict[str, list[str]] = {}
        for op in self.func.ops:
            if op.name not in STRUCTURAL and op.name not in EMITTERS:
                where.setdefault(op.name, []).append("%" + (op.results[0].name if op.results else "?"))
        return [f"  {kind} x{len(vals)}: no Caffe mapping, at {', '.join(vals[:MAX_LISTED])}"
                + (" ..." if len(vals) > MAX_LISTED else "") for kind, vals in sorted(where.items())]

    def _check_outputs(self, problems: list[str]) -> None:
        for v in self.func.outputs:
            if v.owner is None or self.is_weight(v):
                problems.append(f"  output %{v.name} is an input or a weight, not computed by a layer")

    def files(self) -> tuple[bytes, bytes]:
        """(deploy.prototxt text, model.caffemodel bytes)."""
        return to_text(self.net).encode(), encode_model(self.net, self.weights)


def _fill(msg: object, values: dict) -> None:
    """Set the fields of a message from a dict (nested dicts and lists of dicts for message fields)."""
    for key, value in values.items():
        field = getattr(msg, key)
        if isinstance(value, dict):
            field.SetInParent()
            _fill(field, value)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                _fill(field.add(), item)
        elif isinstance(value, list):
            field.extend(value)
        else:
            setattr(msg, key, value)


def emit_caffe(module: Module, output: str, *, progress: Callable[[str], None] | None = None,
               **options: object) -> dict:
    """Write `output/deploy.prototxt` and `output/model.caffemodel` for `module` (NCHW; run nhwc-to-nchw first
    for a channel-last graph)."""
    module = flatten(module)  # the blocks inlined (irc.ir.structure)
    if options:
        raise IrcError(f"the Caffe target takes no options (got {', '.join(sorted(options))})")
    emitter = CaffeEmitter(module)
    emitter.build()
    text, model = emitter.files()
    if os.path.exists(output) and not os.path.isdir(output):
        raise IrcError(f"cannot write {output}: it is a file, not a directory")
    os.makedirs(output, exist_ok=True)
    deploy, weights = os.path.join(output, "deploy.prototxt"), os.path.join(output, "model.caffemodel")
    write_files([(weights, lambda f: f.write(model)), (deploy, lambda f: f.write(text))],
                inputs=[module.path] if module.path else [])
    detail = f"{len(emitter.net.layer)} layers, {len(model):,} bytes of weights"
    if progress is not None:
        progress(detail)
    return {"files": [weights, deploy], "detail": detail}


def unmapped_ops() -> list[str]:
    """Registry ops the Caffe emitter cannot write (for the gap test and the docs)."""
    return sorted(n for n in OPS if n not in EMITTERS and n not in STRUCTURAL and not OPS[n].has("inlined"))


__all__ = ["EMITTERS", "CaffeEmitter", "Refused", "emit_caffe", "emits", "unmapped_ops"]
