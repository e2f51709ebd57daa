"""The ONNX emitter driver: one `Emitter` walks the IR function and builds one ModelProto.

Each IR op is emitted by its family's function in `EMITTERS` (`@emits("conv2d")`), called as
`fn(emitter, op, ins, outs)` with the ONNX names of the operands and results; it adds nodes and
small constant initializers through the emitter's helpers. The driver names no op: it asks the
table, and the op definitions (`irc.ir.ops.OPS`) for layouts.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ...ir import IrcError, Module, Op, TensorType
from ...ir.core import uniquify
from ...ir.dtypes import IR_TO_NP, IR_TO_ONNX, NP_TO_IR
from ...ir.layout import activation_perm, inverse, weight_perm
from ...ir.ops import OPS
from ...ir.table import OpTable
from ..gaps import refuse_unmapped

if TYPE_CHECKING:
    import onnx

OPSETS = range(13, 22)
DEFAULT_OPSET = 18

EMITTERS = OpTable("ONNX emitter", ir_keys=True)  # "nn.conv2d" -> fn(emitter, op, ins, outs)
emits = EMITTERS.register

Handler = Callable[["Emitter", Op, list, list], None]


class Emitter:
    """The graph being built: nodes, initializers, and the names already taken."""

    def __init__(self, module: Module, opset: int, lazy_params: bool = False):
        from onnx import helper

        self.helper = helper
        self.module = module
        self.opset = opset
        self.func = module.main
        self.nodes = []
        self.inits = {}  # name -> TensorProto
        self.lazy_params = lazy_params  # params as TensorProtos without their data (the writer streams it)
        self.names: dict[int, str] = {}
        self.taken = {v.name for v in self.func.values()}

    # -- names

    def fresh(self, base: str) -> str:
        return uniquify(base, self.taken)

    def tmp(self, out: str, what: str) -> str:
        """A helper value's name: `<result>__<what>`."""
        return self.fresh(f"{out}__{what}")

    # -- building

    def node(self, op_type: str, inputs: Iterable[str], outputs: str | Sequence[str], name: str | None = None,
             **attrs) -> str:
        """Add one node (attributes that are None are left out); returns its first output's name."""
        outputs = [outputs] if isinstance(outputs, str) else list(outputs)
        attrs = {k: v for k, v in attrs.items() if v is not None}
        n = self.helper.make_node(op_type, list(inputs), outputs, name=name or outputs[0], **attrs)
        self.nodes.append(n)
        return outputs[0]

    def init(self, base: str, array: np.ndarray, dtype: str | None = None) -> str:
        """A small constant input (shape vectors, scalars, ...) as an initializer."""
        name = self.fresh(base)
        self.inits[name] = tensor_proto(name, np.asarray(array), dtype)
        return name

    def ints(self, out: str, what: str, values: Iterable[int]) -> str:
        return self.init(f"{out}__{what}", np.asarray(values, dtype=np.int64))

    def scalar(self, out: str, what: str, value: float, dtype: str) -> str:
        return self.init(f"{out}__{what}", np.asarray(value, dtype=IR_TO_NP.get(dtype, np.float32)), dtype)

    def reduce(self, kind: str, x: str, axes: Sequence[int], out: str, keepdims: bool, what: str = "axes") -> str:
        """ReduceMean/Sum/Max/Min: axes as an attribute before opset 18 (13 for ReduceSum), an input after."""
        as_input = self.opset >= (13 if kind == "ReduceSum" else 18)
        if as_input:
            return self.node(kind, [x, self.ints(out, what, axes)], out, keepdims=int(keepdims))
        return self.node(kind, [x], out, axes=list(axes), keepdims=int(keepdims))

    def unsqueeze(self, x: str, axes: Sequence[int], out: str) -> str:
        if self.opset >= 13:
            return self.node("Unsqueeze", [x, self.ints(out, "axes", axes)], out)
        return self.node("Unsqueeze", [x], out, axes=list(axes))

    def slice(self, x: str, axes: Sequence[int], starts: Sequence[int], ends: Sequence[int], out: str,
              steps: Sequence[int] | None = None) -> str:
        ins = [x, self.ints(out, "starts", starts), self.ints(out, "ends", ends), self.ints(out, "axes", axes)]
        if steps is not None and any(s != 1 for s in steps):
            ins.append(self.ints(out, "steps", steps))
        return self.node("Slice", ins, out)

    def transpose(self, x: str, perm: Sequence[int], out: str) -> str:
        return self.node("Transpose", [x], out, perm=list(perm))

    # -- the graph

    def value_info(self, name: str, ttype: TensorType, symbolic: bool = False) -> onnx.ValueInfoProto:
        """A ValueInfoProto; dynamic dims are symbolic (`batch`, `<name>_d<i>`) when `symbolic`, else unknown."""
        shape = []
        for i, d in enumerate(ttype.shape):
            if d is not None:
                shape.append(d)
            elif symbolic:
                shape.append("batch" if i == 0 else f"{name}_d{i}")
            else:
                shape.append(None)
        return self.helper.make_tensor_value_info(name, IR_TO_ONNX[ttype.dtype], shape)

    def param_names(self) -> dict[int, str]:
        """Each param's ONNX name: its weight key unless another IR value already uses that name."""
        func = self.func
        others = {v.name for v in func.values() if not (v.owner is not None and v.owner.name == "nn.param")}
        out = {}
        for op in func.ops:
            if op.name == "nn.param":
                key = op.attrs["key"]
                out[id(op.result)] = key if key not in others else op.result.name
        return out

    def build(self, name: str | None) -> onnx.ModelProto:
        """The ModelProto of the module's main function."""
        self._refuse_unmapped()
        self._emit_ops()
        inputs = [self.value_info(a.name, a.type, symbolic=True) for a in self.func.args]
        outputs = self._graph_outputs()
        infos = self._value_infos({o.name for o in outputs})
        # a param only a mapping read at emit time (recurrent weights, reordered into new initializers) is not written
        read = {i for n in self.nodes for i in n.input} | {o.name for o in outputs}
        self.inits = {k: t for k, t in self.inits.items() if k in read}
        return self._model(name or "irc", inputs, outputs, infos)

    def _refuse_unmapped(self) -> None:
        refuse_unmapped(self.module, EMITTERS, "ONNX")

    def _emit_ops(self) -> None:
        pnames = self.param_names()
        self.taken |= set(pnames.values())
        for a in self.func.args:
            self.names[id(a)] = a.name
        for op in self.func.ops:
            if op.name == "nn.param":
                self._emit_param(op, pnames[id(op.result)])
                continue
            ins = [self.names[id(v)] for v in op.operands]
            outs = [r.name for r in op.results]
            for r in op.results:
                self.names[id(r)] = r.name
            try:
                EMITTERS[op.name](self, op, ins, outs)
            except IrcError as e:
                raise IrcError(f"cannot emit %{outs[0] if outs else op.name} = {op.name} as ONNX: {e}") from None

    def _emit_param(self, op: Op, pname: str) -> None:
        self.names[id(op.result)] = pname
        if pname not in self.inits:
            key = op.attrs["key"]
            store = self.module.weights
            ttype = store.type_of(key)
            self.inits[pname] = tensor_header(pname, ttype.shape, ttype.dtype) if self.lazy_params \
                else tensor_proto(pname, store.numpy(key), ttype.dtype)

    def _graph_outputs(self) -> list:
        """The function's results; one returned twice, or an input or initializer returned, gets an Identity."""
        outputs, seen = [], set()
        arg_names = {a.name for a in self.func.args}
        for v in self.func.outputs:
            n = self.names[id(v)]
            if n in seen or n in arg_names or n in self.inits:
                src, n = n, self.fresh(f"{v.name}_out")
                self.node("Identity", [src], n)
            seen.add(n)
            outputs.append(self.value_info(n, v.type, symbolic=True))
        return outputs

    def _value_infos(self, graph_outs: set) -> list:
        infos = []
        for op in self.func.ops:
            if op.name == "nn.param":
                continue
            for r in op.results:
                if r.name not in graph_outs and r.type is not None:
                    infos.append(self.value_info(r.name, r.type))
        return infos

    def _model(self, name: str, inputs: list, outputs: list, infos: list) -> onnx.ModelProto:
        helper = self.helper
        graph = helper.make_graph(self.nodes, name, inputs, outputs, value_info=infos)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)],
                                  producer_name="irc", producer_version=_version())
        del graph
        # the weights go into the model one at a time, each copy freed as it is made (make_graph and
        # make_model would each copy all of them: three times the weight bytes held at once)
        inits = model.graph.initializer
        for pname in list(self.inits):
            inits.add().CopyFrom(self.inits.pop(pname))
        model.ir_version = min(model.ir_version, _max_ir_version(self.opset))
        return model


def _version() -> str:
    try:
        from ... import __version__

        return __version__
    except ImportError:  # pragma: no cover
        return "0"


def _max_ir_version(opset: int) -> int:
    """The newest IR version onnxruntime and the checker accept together with this opset."""
    from onnx.helper import OP_SET_ID_VERSION_MAP

    for (domain, ops), irv in OP_SET_ID_VERSION_MAP.items():
        if domain == "ai.onnx" and ops == opset:
            return irv
    return 8


def tensor_proto(name: str, array: np.ndarray, dtype: str | None = None) -> onnx.TensorProto:
    """A TensorProto holding `array` as raw data, of irc element type `dtype` (default: the array's)."""
    arr = np.asarray(array)
    if dtype is None:
        dtype = NP_TO_IR[arr.dtype.str]
    t = tensor_header(name, arr.shape, dtype)
    t.raw_data = np.ascontiguousarray(arr).tobytes()
    return t


def tensor_header(name: str, shape: Sequence[int], dtype: str) -> onnx.TensorProto:
    """A TensorProto's name, dims and element type, without its data."""
    from onnx import TensorProto

    t = TensorProto()
    t.name = name
    t.dims.extend(shape)
    t.data_type = IR_TO_ONNX[dtype]
    return t


def build(module: Module, opset: int, lazy_params: bool = False) -> tuple:
    """(ModelProto, {ONNX name of each param: its weight key}): `module` as an ONNX model at `opset`; with
    `lazy_params`, the params' initializers hold no data (irc.backend.onnx.writer streams it from the weights)."""
    if opset not in OPSETS:
        raise IrcError(f"opset {opset} is not supported: irc writes opsets {OPSETS.start} to {OPSETS.stop - 1}")
    emitter = Emitter(module, opset, lazy_params)
    model = emitter.build(module.name)
    keys = {id(op.result): op.attrs["key"] for op in emitter.func.ops if op.name == "nn.param"}
    return model, {name: keys[vid] for vid, name in emitter.param_names().items()}


def build_model(module: Module, opset: int = DEFAULT_OPSET) -> onnx.ModelProto:
    """The ModelProto for `module` (not checked, not written)."""
    return build(module, opset)[0]


def unmapped_ops() -> list[str]:
    """Registry ops the ONNX emitter cannot write (for the gap test and the docs)."""
    return sorted(n for n in OPS if n not in EMITTERS and n != "nn.param" and not OPS[n].has("inlined"))


# ----------------------------------------------------------------------------- layouts


def spatial(fn: Handler) -> Handler:
    """Run an NCHW emitter for an nhwc op between Transposes (and the weight of an op with a weight layout,
    convolutions, transposed from its nhwc layout to its nchw one): ONNX has no channels-last ops."""

    @functools.wraps(fn)
    def wrapped(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
        if op.attrs["layout"] == "nchw":
            fn(emitter, op, ins, outs)
            return
        out, rank = outs[0], op.operands[0].type.rank
        to_nchw = activation_perm("nhwc", "nchw", rank)
        ins = list(ins)
        ins[0] = emitter.transpose(ins[0], to_nchw, emitter.tmp(out, "nchw_in"))
        opdef = OPS[op.name]
        if opdef.weight_layout is not None:
            ins[1] = emitter.transpose(ins[1], weight_perm(opdef, "nhwc", "nchw"), emitter.tmp(out, "oihw"))
        inner = emitter.tmp(out, "nchw")
        fn(emitter, op, ins, [inner])
        emitter.transpose(inner, inverse(to_nchw), out)

    return wrapped
