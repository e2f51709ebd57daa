"""The MXNet emitter driver: one `MxnetEmitter` walks the IR function and builds the symbol graph (the JSON of
`model-symbol.json`) and its weights (`model-0000.params`: `arg:NAME` / `aux:NAME` arrays), without MXNet.

Each IR op is emitted by its family's function in `EMITTERS` (`@emits("conv2d")`), called as
`fn(emitter, op, ins, outs)` with the graph entries of the operands (None for a weight: a param or constant,
turned into a variable with `emitter.weight`) and the names of the results; it adds nodes with
`emitter.node` and returns the entry (or entries) of the op's results. Each node is named after the IR value
it computes and helper nodes `<result>__<what>`, so MXNet's internal outputs (`<node>_output`) are the IR's
values (`irc.runtimes.mxnet`). The driver names no op: every op kind without a mapping, and every op its
mapping refuses, is listed in one error (with its IR line) before anything is written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence

import numpy as np

from ...formats.mxnet import attr_text, encode_params
from ...ir import IrcError, Module, Op, Value
from ...ir.core import uniquify
from ...ir.dense import weight_values
from ...ir.ops import OPS
from ...ir.printer import print_op
from ...ir.structure import flatten
from ...ir.table import OpTable
from ...ir.writer import write_files

EMITTERS = OpTable("MXNet emitter", ir_keys=True)  # "nn.conv2d" -> fn(emitter, op, ins, outs) -> entries
emits = EMITTERS.register

STRUCTURAL = ("nn.param", "nn.constant")  # weights, read by the nodes that use them
MXNET_VERSION = 10901  # the version the symbol says it was written by (1.9.1)
SYMBOL_FILE, PARAMS_FILE = "model-symbol.json", "model-0000.params"

Entry = tuple[int, int]  # (node index, output index)


class Refused(Exception):
    """This op cannot be written as MXNet nodes; the message says why (collected and reported together)."""


class MxnetEmitter:
    """The symbol being built: its nodes, the arrays of its variables, and the names taken."""

    def __init__(self, module: Module):
        self.module = module
        self.func = module.main
        self.nodes: list[dict] = []
        self.arg_nodes: list[int] = []
        self.params: dict[str, np.ndarray] = {}  # "arg:NAME" / "aux:NAME" -> array
        self.entries: dict[int, Entry] = {}  # id(IR value) -> its entry
        self.taken = {v.name for v in self.func.values()}

    # -- what emitters use

    def node(self, kind: str, name: str, inputs: Sequence[Entry], attrs: dict | None = None) -> Entry:
        """Add a node of MXNet op `kind`; `attrs` values are written as MXNet writes them ((3, 3), True).
        Returns its first output; `(index, k)` is output k."""
        node = {"op": kind, "name": name, "inputs": [[i, k, 0] for i, k in inputs]}
        if attrs:
            node["attrs"] = {k: attr_text(v) for k, v in attrs.items() if v is not None}
        self.nodes.append(node)
        return len(self.nodes) - 1, 0

    def variable(self, name: str, array: np.ndarray | None = None, aux: bool = False,
                 attrs: dict | None = None) -> Entry:
        """A variable node (an input, or a weight whose array goes to the .params file as arg:/aux:NAME)."""
        entry = self.node("null", name, [], attrs)
        self.arg_nodes.append(entry[0])
        if array is not None:
            self.params[("aux:" if aux else "arg:") + name] = np.ascontiguousarray(array, dtype=np.float32)
        return entry

    def weight(self, value: Value, name: str, aux: bool = False,
               reorder: Callable[[np.ndarray], np.ndarray] | None = None) -> Entry:
        """The variable holding weight `value` (made once per value; a reordered copy is a variable of its own)."""
        if reorder is None and id(value) in self.entries:
            return self.entries[id(value)]
        array = self.array(value)
        entry = self.variable(uniquify(name, self.taken), reorder(array) if reorder else array, aux)
        if reorder is None:
            self.entries[id(value)] = entry
        return entry

    def operand(self, op: Op, index: int, ins: Sequence[Entry | None]) -> Entry:
        """Operand `index` as an entry: the activation's, or a variable named after the weight."""
        if ins[index] is not None:
            return ins[index]
        return self.weight(op.operands[index], f"{op.results[0].name}_w{index}")

    def tmp(self, out: str, what: str) -> str:
        """A helper node's name: `<result>__<what>`."""
        return uniquify(f"{out}__{what}", self.taken)

    def is_weight(self, value: Value) -> bool:
        return value.owner is not None and value.owner.name in STRUCTURAL

    def array(self, value: Value) -> np.ndarray:
        """The values of a weight operand (a param or constant) as float32."""
        arr = weight_values(self.module, value)
        if arr is None:
            raise Refused(f"%{value.name} must be a weight (a param or constant)")
        return arr

    # -- the graph

    def build(self) -> None:
        self._inputs()
        problems = []
        for op in self.func.ops:
            if op.name in STRUCTURAL:
                continue
            if op.name not in EMITTERS:
                problems.append(f"  {print_op(op, strip_locs=True)}\n      no MXNet mapping for {op.name}")
                continue
            ins = [None if self.is_weight(v) else self.entries[id(v)] for v in op.operands]
            try:
                if OPS[op.name].spatial and op.attrs["layout"] != "nchw":
                    raise Refused("channel-last (layout nhwc): MXNet on CPU is NCHW, run the nhwc-to-nchw pass first")
                self._bind(op, EMITTERS[op.name](self, op, ins, [r.name for r in op.results]))
            except Refused as e:
                problems.append(f"  {print_op(op, strip_locs=True)}\n      {e}")
        problems += self._check_outputs()
        if problems:
            count = len(problems)
            raise IrcError("\n".join([f"cannot emit {self.module.name} as MXNet: {count} unsupported op"
                                      f"{'s' if count != 1 else ''}; nothing was written"] + problems))

    def _bind(self, op: Op, result: Entry | list[Entry]) -> None:
        results = result if isinstance(result, list) else [result]
        for value, entry in zip(op.results, results, strict=True):
            self.entries[id(value)] = entry

    def _inputs(self) -> None:
        for arg in self.func.args:
            if None in arg.type.shape:
                raise IrcError(f"cannot emit {self.module.name} as MXNet: input %{arg.name} {arg.type} has a "
                               "dynamic dim (import with a fixed batch)")
            self.entries[id(arg)] = self.variable(arg.name, attrs={"__shape__": tuple(arg.type.shape)})

    def _check_outputs(self) -> list[str]:
        return [f"  output %{v.name} is an input or a weight, not computed by a node\n      give it an op"
                for v in self.func.outputs if v.owner is None or self.is_weight(v)]

    def symbol(self) -> dict:
        """The symbol graph as MXNet's JSON holds it."""
        heads = [[*self.entries[id(v)], 0] for v in self.func.outputs]
        return {"nodes": self.nodes, "arg_nodes": self.arg_nodes, "heads": heads,
                "attrs": {"mxnet_version": ["int", MXNET_VERSION]}}


def emit_mxnet(module: Module, output: str, *, progress: Callable[[str], None] | None = None,
               **options: object) -> dict:
    """Write `output/model-symbol.json` and `output/model-0000.params` for `module` (NCHW; run nhwc-to-nchw
    first for a channel-last graph). MXNet is not needed."""
    module = flatten(module)  # the blocks inlined (irc.ir.structure)
    if options:
        raise IrcError(f"the MXNet target takes no options (got {', '.join(sorted(options))})")
    emitter = MxnetEmitter(module)
    emitter.build()
    text = json.dumps(emitter.symbol(), indent=2).encode()
    params = encode_params(emitter.params)
    if os.path.exists(output) and not os.path.isdir(output):
        raise IrcError(f"cannot write {output}: it is a file, not a directory")
    os.makedirs(output, exist_ok=True)
    symbol_path, params_path = os.path.join(output, SYMBOL_FILE), os.path.join(output, PARAMS_FILE)
    write_files([(params_path, lambda f: f.write(params)), (symbol_path, lambda f: f.write(text))],
                inputs=[module.path] if module.path else [])
    ops = sum(1 for n in emitter.nodes if n["op"] != "null")
    detail = f"{ops} nodes, {len(emitter.params)} arrays, {len(params):,} bytes of weights"
    if progress is not None:
        progress(detail)
    return {"files": [params_path, symbol_path], "detail": detail}


def unmapped_ops() -> list[str]:
    """Registry ops the MXNet emitter cannot write (for the gap test and the docs)."""
    return sorted(n for n in OPS if n not in EMITTERS and n not in STRUCTURAL and not OPS[n].has("inlined"))


__all__ = ["EMITTERS", "MxnetEmitter", "Refused", "emit_mxnet", "emits", "unmapped_ops"]
