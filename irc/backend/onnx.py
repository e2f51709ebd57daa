"""IR → ONNX: `emit_onnx(module, path, opset=18)` writes one ModelProto.

Every registry op maps to standard ONNX ops (default domain) in `ONNX_OPS`; the test suite lists
registry ops without a mapping so that gaps are visible. Choices worth knowing:

- Names: every IR value keeps its name as the ONNX value name, and the node that computes it is
  named after it too. Helper values a mapping needs get `<result>__<what>` names. A param becomes an
  initializer named by its weight key (so an IR → ONNX → IR round trip keeps keys).
- A dynamic dimension becomes a symbolic one: `batch` for dimension 0, `<input>_d<i>` elsewhere.
- Layout: nhwc spatial ops are computed in NCHW between two Transposes (HWIO weights are transposed
  by a Transpose node too); ONNX has no channels-last convolution.
- Pooling and convolution map attribute for attribute: ONNX's pads are [begin..., end...], so
  asymmetric padding is exact; onnxruntime's ceil_mode and count_include_pad agree with PyTorch's
  (tested). Adaptive pooling becomes a Global pool (1x1), a plain pool when the input divides
  evenly, else a separable Slice/Reduce/Concat decomposition.
- upsample: Resize with `scales` when the IR has scales (torch samples with the scale itself), else
  `sizes`; nearest is coordinate mode "asymmetric" + nearest_mode "floor" (PyTorch's "nearest"),
  bilinear is "align_corners" or "half_pixel" (PyTorch samples (i + 0.5) / scale - 0.5 even for an output
  of length 1, which "pytorch_half_pixel" maps to 0 instead).
- gelu is ONNX Gelu from opset 20, else built from Erf (or Tanh for approximate="tanh");
  layer_norm is LayerNormalization from opset 17 when its axes are the trailing ones, else
  decomposed; group_norm is GroupNormalization from opset 21 (per-channel scale, PyTorch's), decomposed
  below (opset 18's GroupNormalization scales per group).
- Tensors above 2 GB in total go to external data (`<file>.data` beside the model).
"""

from __future__ import annotations

import math
import os
import tempfile

import numpy as np

from ..ir import IrcError, Module
from ..ir.core import uniquify
from ..ir.weights import IR_TO_NP

OPSETS = range(13, 22)
DEFAULT_OPSET = 18
TWO_GB = 2**31

ONNX_OPS: dict = {}  # "nn.conv2d" -> fn(e, op, ins, outs)


def _dtypes():
    from onnx import TensorProto as T

    return {"f16": T.FLOAT16, "bf16": T.BFLOAT16, "f32": T.FLOAT, "f64": T.DOUBLE, "i1": T.BOOL, "i8": T.INT8,
            "i16": T.INT16, "i32": T.INT32, "i64": T.INT64, "u8": T.UINT8}


def onnx_op(*names):
    def deco(fn):
        for n in names:
            ONNX_OPS["nn." + n] = fn
        return fn
    return deco


# ----------------------------------------------------------------------------- the emitter


class Emitter:
    def __init__(self, module: Module, opset: int):
        from onnx import helper

        self.helper = helper
        self.module = module
        self.opset = opset
        self.func = module.main
        self.nodes = []
        self.inits = {}  # name -> TensorProto
        self.names: dict[int, str] = {}
        self.taken = {v.name for v in self.func.values()}
        self.init_bytes = 0
        self.dt = _dtypes()

    # -- names

    def fresh(self, base: str) -> str:
        return uniquify(base, self.taken)

    def tmp(self, out: str, what: str) -> str:
        return self.fresh(f"{out}__{what}")

    # -- building

    def node(self, op_type, inputs, outputs, name=None, **attrs):
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

    def ints(self, out, what, values) -> str:
        return self.init(f"{out}__{what}", np.asarray(values, dtype=np.int64))

    def scalar(self, out, what, value, dtype) -> str:
        return self.init(f"{out}__{what}", np.asarray(value, dtype=IR_TO_NP.get(dtype, np.float32)), dtype)

    def reduce(self, kind, x, axes, out, keepdims, what="axes"):
        """ReduceMean/Sum/Max/Min: axes as an attribute before opset 18 (13 for ReduceSum), an input after."""
        as_input = self.opset >= (13 if kind == "ReduceSum" else 18)
        if as_input:
            return self.node(kind, [x, self.ints(out, what, axes)], out, keepdims=int(keepdims))
        return self.node(kind, [x], out, axes=list(axes), keepdims=int(keepdims))

    def unsqueeze(self, x, axes, out):
        if self.opset >= 13:
            return self.node("Unsqueeze", [x, self.ints(out, "axes", axes)], out)
        return self.node("Unsqueeze", [x], out, axes=list(axes))

    def slice(self, x, axes, starts, ends, out, steps=None):
        ins = [x, self.ints(out, "starts", starts), self.ints(out, "ends", ends), self.ints(out, "axes", axes)]
        if steps is not None and any(s != 1 for s in steps):
            ins.append(self.ints(out, "steps", steps))
        return self.node("Slice", ins, out)

    def transpose(self, x, perm, out):
        return self.node("Transpose", [x], out, perm=list(perm))

    # -- the graph

    def value_info(self, name, t, symbolic=False):
        shape = []
        for i, d in enumerate(t.shape):
            if d is not None:
                shape.append(d)
            elif symbolic:
                shape.append("batch" if i == 0 else f"{name}_d{i}")
            else:
                shape.append(None)
        return self.helper.make_tensor_value_info(name, self.dt[t.dtype], shape)

    def param_names(self):
        """Each param's ONNX name: its weight key unless another IR value already uses that name."""
        func = self.func
        others = {v.name for v in func.values() if not (v.owner is not None and v.owner.name == "nn.param")}
        out = {}
        for op in func.ops:
            if op.name == "nn.param":
                key = op.attrs["key"]
                out[id(op.result)] = key if key not in others else op.result.name
        return out

    def build(self, name):
        func = self.func
        missing = sorted({op.name for op in func.ops if op.name not in ONNX_OPS and op.name != "nn.param"})
        if missing:
            where = {}
            for op in func.ops:
                if op.name in missing:
                    where.setdefault(op.name, []).append("%" + op.results[0].name if op.results else "?")
            lines = [(f"cannot emit {self.module.name} as ONNX: {len(missing)} op kind(s) have no ONNX mapping; "
                      "nothing was written")]
            for k in missing:
                vals = where[k]
                lines.append(f"  {k} x{len(vals)}: at {', '.join(vals[:8])}" + (" ..." if len(vals) > 8 else ""))
            raise IrcError("\n".join(lines))
        pnames = self.param_names()
        self.taken |= set(pnames.values())
        for a in func.args:
            self.names[id(a)] = a.name
        store = self.module.weights
        for op in func.ops:
            if op.name == "nn.param":
                pname = pnames[id(op.result)]
                self.names[id(op.result)] = pname
                if pname not in self.inits:
                    key = op.attrs["key"]
                    t = store.type_of(key)
                    self.inits[pname] = tensor_proto(pname, store.numpy(key), t.dtype)
                continue
            ins = [self.names[id(v)] for v in op.operands]
            outs = [r.name for r in op.results]
            for r in op.results:
                self.names[id(r)] = r.name
            try:
                ONNX_OPS[op.name](self, op, ins, outs)
            except IrcError as e:
                raise IrcError(f"cannot emit %{outs[0] if outs else op.name} = {op.name} as ONNX: {e}") from None
        inputs = [self.value_info(a.name, a.type, symbolic=True) for a in func.args]
        outputs, seen = [], set()
        arg_names = {a.name for a in func.args}
        for v in func.outputs:
            n = self.names[id(v)]
            if n in seen or n in arg_names or n in self.inits:
                src, n = n, self.fresh(f"{v.name}_out")
                self.node("Identity", [src], n)
            seen.add(n)
            outputs.append(self.value_info(n, v.type, symbolic=True))
        graph_outs = {o.name for o in outputs}
        infos = []
        for op in func.ops:
            if op.name == "nn.param":
                continue
            for r in op.results:
                if r.name not in graph_outs and r.type is not None:
                    infos.append(self.value_info(r.name, r.type))
        # a param only a mapping read at emit time (recurrent weights, reordered into new initializers) is not written
        read = {i for n in self.nodes for i in n.input} | {o.name for o in outputs}
        self.inits = {k: t for k, t in self.inits.items() if k in read}
        graph = self.helper.make_graph(self.nodes, _graph_name(name), inputs, outputs, value_info=infos)
        model = self.helper.make_model(graph, opset_imports=[self.helper.make_opsetid("", self.opset)],
                                       producer_name="irc", producer_version=_version())
        del graph
        # the weights go into the model one at a time, each copy freed as it is made (make_graph and
        # make_model would each copy all of them: three times the weight bytes held at once)
        inits = model.graph.initializer
        for pname in list(self.inits):
            inits.add().CopyFrom(self.inits.pop(pname))
        model.ir_version = min(model.ir_version, _max_ir_version(self.opset))
        return model


def _version():
    try:
        from .. import __version__

        return __version__
    except ImportError:  # pragma: no cover
        return "0"


def _graph_name(name):
    return name or "irc"


def _max_ir_version(opset):
    """The newest IR version onnxruntime and the checker accept together with this opset."""
    from onnx.helper import OP_SET_ID_VERSION_MAP

    for (domain, ops), irv in OP_SET_ID_VERSION_MAP.items():
        if domain == "ai.onnx" and ops == opset:
            return irv
    return 8


def tensor_proto(name, array, dtype=None):
    from onnx import TensorProto

    arr = np.asarray(array)
    if dtype is None:
        from ..ir.weights import NP_TO_IR

        dtype = NP_TO_IR[arr.dtype.str]
    t = TensorProto()
    t.name = name
    t.dims.extend(arr.shape)
    t.data_type = _dtypes()[dtype]
    t.raw_data = np.ascontiguousarray(arr).tobytes()
    return t


def build_model(module: Module, opset: int = DEFAULT_OPSET):
    """The ModelProto for `module` (not checked, not written)."""
    return _build(module, opset)[0]


def _build(module, opset):
    if opset not in OPSETS:
        raise IrcError(f"opset {opset} is not supported: irc writes opsets {OPSETS.start} to {OPSETS.stop - 1}")
    e = Emitter(module, opset)
    model = e.build(module.name)
    return model, set(e.param_names().values())


def emit_onnx(module: Module, path: str, opset: int = DEFAULT_OPSET, external_data: bool | None = None,
              check: bool = True, progress=None) -> dict:
    """Write `module` as one .onnx file at `path` (atomically); returns a summary dict.

    external_data: None (default) puts the weights in `<path>.data` when tensors total more than 2 GB;
    True/False force it. The file is checked with onnx.checker.check_model(full_check=True).
    """
    import onnx

    if module.path and os.path.exists(path) and os.path.exists(module.path) and os.path.samefile(path, module.path):
        raise IrcError(f"refusing to overwrite the input file {path}")
    progress = progress or (lambda msg: None)
    progress("building the ONNX graph")
    model, params = _build(module, opset)
    progress("writing " + os.path.basename(path))
    total = sum(len(t.raw_data) for t in model.graph.initializer)
    external = total > TWO_GB - 2**24 if external_data is None else bool(external_data)
    directory = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(directory, exist_ok=True)
    base = os.path.basename(path)
    data_name = base + ".data"
    fd, tmp = tempfile.mkstemp(prefix="." + base + ".", suffix=".tmp", dir=directory)
    os.close(fd)
    tmp_data = None
    try:
        if external:
            from onnx.external_data_helper import set_external_data, write_external_data_tensors

            # the weights only: small shape/axes tensors stay inline, where shape inference reads them
            tmp_data = os.path.basename(tmp) + ".data"
            for t in model.graph.initializer:
                if t.name in params:
                    set_external_data(t, tmp_data)
                    t.data_location = onnx.TensorProto.EXTERNAL
            model = write_external_data_tensors(model, directory)
            for t in model.graph.initializer:
                for entry in t.external_data:
                    if entry.key == "location":
                        entry.value = data_name
            with open(tmp, "wb") as f:
                f.write(model.SerializeToString())
            if os.path.exists(os.path.join(directory, tmp_data)):
                os.replace(os.path.join(directory, tmp_data), os.path.join(directory, data_name))
                tmp_data = data_name  # removed again if the check below fails
        else:
            data = model.SerializeToString()  # once: the checker below reads the same bytes
            with open(tmp, "wb") as f:
                f.write(data)
        kinds: dict = {}
        for op_type in [n.op_type for n in model.graph.node]:  # (a node object would keep the model alive)
            kinds[op_type] = kinds.get(op_type, 0) + 1
        n_nodes, n_inits = len(model.graph.node), len(model.graph.initializer)
        model = None  # the checker parses its own copy: keep one set of weights in memory, not two
        if check:
            progress("checking with onnx.checker (full_check)")
            try:
                if external:
                    # the checker resolves the data file relative to the model: check at its final place
                    onnx.checker.check_model(tmp, full_check=True)
                else:
                    onnx.checker.check_model(data, full_check=True)
            except Exception as e:  # a bug in a mapping, not a user error; say which
                raise IrcError(f"the ONNX model irc built fails onnx.checker: {str(e).strip().splitlines()[0]}") from e
        data = None
        os.replace(tmp, path)
        tmp_data = None
    except BaseException:
        for p in (tmp, tmp_data and os.path.join(directory, tmp_data)):
            if p and os.path.exists(p):
                os.unlink(p)
        raise
    return {"path": path, "opset": opset, "nodes": n_nodes, "initializers": n_inits,
            "bytes": total, "external_data": os.path.join(directory, data_name) if external else None,
            "node_kinds": kinds}


# ----------------------------------------------------------------------------- helpers for mappings

TO_NCHW, TO_NHWC, HWIO_TO_OIHW = (0, 3, 1, 2), (0, 2, 3, 1), (3, 2, 0, 1)


def spatial(fn):
    """Run an NCHW mapping for an nhwc op between Transposes (weights of convolutions too)."""

    def wrapped(e, op, ins, outs):
        if op.attrs.get("layout", "nchw") == "nchw":
            return fn(e, op, ins, outs)
        out = outs[0]
        ins = list(ins)
        ins[0] = e.transpose(ins[0], TO_NCHW, e.tmp(out, "nchw_in"))
        if op.kind in ("conv2d", "conv_transpose2d"):
            ins[1] = e.transpose(ins[1], HWIO_TO_OIHW, e.tmp(out, "oihw"))
        inner = e.tmp(out, "nchw")
        fn(e, op, ins, [inner])
        e.transpose(inner, TO_NHWC, out)

    return wrapped


def _pads(padding):
    (t, b), (left, r) = padding
    return [t, left, b, r]


def _static(op, i=0, what="input"):
    t = op.operands[i].type
    if not t.is_static:
        raise IrcError(f"needs a static {what} shape, got {t}")
    return t.shape


# ----------------------------------------------------------------------------- core


@onnx_op("constant")
def _constant(e, op, ins, outs):
    d = op.attrs["value"]
    if d.type.dtype == "bf16":
        raise IrcError("bf16 dense literals have no ONNX form here; store them as params")
    arr = np.array(d.values, dtype=IR_TO_NP[d.type.dtype])
    arr = np.broadcast_to(arr, d.type.shape).copy() if d.is_splat else arr.reshape(d.type.shape)
    e.node("Constant", [], outs[0], value=tensor_proto(outs[0], arr, d.type.dtype))


@onnx_op("cast")
def _cast(e, op, ins, outs):
    e.node("Cast", ins, outs[0], to=e.dt[op.attrs["dtype"]])


# ----------------------------------------------------------------------------- conv and pool


@onnx_op("conv2d")
@spatial
def _conv2d(e, op, ins, outs):
    a = op.attrs
    w = op.operands[1].type.shape
    kshape = list(w[2:]) if a.get("layout", "nchw") == "nchw" else list(w[:2])
    e.node("Conv", ins, outs[0], kernel_shape=kshape, strides=a["stride"], pads=_pads(a["padding"]),
           dilations=a["dilation"], group=a["groups"])


@onnx_op("conv_transpose2d")
@spatial
def _conv_t(e, op, ins, outs):
    a = op.attrs
    w = op.operands[1].type.shape
    kshape = list(w[2:]) if a.get("layout", "nchw") == "nchw" else list(w[:2])
    e.node("ConvTranspose", ins, outs[0], kernel_shape=kshape, strides=a["stride"], pads=_pads(a["padding"]),
           dilations=a["dilation"], group=a["groups"],
           output_padding=a["output_padding"] if any(a["output_padding"]) else None)


@onnx_op("max_pool2d")
@spatial
def _max_pool(e, op, ins, outs):
    a = op.attrs
    e.node("MaxPool", ins, outs[0], kernel_shape=a["kernel_size"], strides=a["stride"], pads=_pads(a["padding"]),
           dilations=a["dilation"] if any(d != 1 for d in a["dilation"]) else None,
           ceil_mode=1 if a["ceil_mode"] else None)


@onnx_op("avg_pool2d")
@spatial
def _avg_pool(e, op, ins, outs):
    a = op.attrs
    e.node("AveragePool", ins, outs[0], kernel_shape=a["kernel_size"], strides=a["stride"],
           pads=_pads(a["padding"]), ceil_mode=1 if a["ceil_mode"] else None,
           count_include_pad=1 if a["count_include_pad"] else 0)


def _adaptive(kind):
    glob, pool, red = {"avg": ("GlobalAveragePool", "AveragePool", "ReduceMean"),
                       "max": ("GlobalMaxPool", "MaxPool", "ReduceMax")}[kind]

    @spatial
    def fn(e, op, ins, outs):
        oh, ow = op.attrs["output_size"]
        x = op.operands[0].type
        h, w = x.shape[2:] if op.attrs.get("layout", "nchw") == "nchw" else x.shape[1:3]
        if (oh, ow) == (1, 1):
            return e.node(glob, ins, outs[0])
        if h is None or w is None:
            raise IrcError(f"adaptive pooling to {[oh, ow]} needs static spatial dims, got {x}")
        if h % oh == 0 and w % ow == 0:
            k = [h // oh, w // ow]
            return e.node(pool, ins, outs[0], kernel_shape=k, strides=k)
        # PyTorch's bins: [floor(i*in/out), ceil((i+1)*in/out)); rectangular bins make it separable
        cur = ins[0]
        for axis, (n, o) in ((2, (h, oh)), (3, (w, ow))):
            if n == o:
                continue
            target = outs[0] if axis == 3 or w == ow else e.tmp(outs[0], "rows")
            parts = []
            for i in range(o):
                s, t = (i * n) // o, -(-((i + 1) * n) // o)
                piece = e.slice(cur, [axis], [s], [t], e.tmp(outs[0], f"bin{axis}_{i}"))
                parts.append(e.reduce(red, piece, [axis], e.tmp(outs[0], f"red{axis}_{i}"), True))
            cur = e.node("Concat", parts, target, axis=axis)
        if cur != outs[0]:
            e.node("Identity", [cur], outs[0])

    return fn


ONNX_OPS["nn.adaptive_avg_pool2d"] = _adaptive("avg")
ONNX_OPS["nn.adaptive_max_pool2d"] = _adaptive("max")


# ----------------------------------------------------------------------------- element-wise

def _plain(kind):
    return lambda e, op, ins, outs: e.node(kind, ins, outs[0])


for _ir, _onnx in {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "exp": "Exp", "log": "Log",
                   "sqrt": "Sqrt", "neg": "Neg", "abs": "Abs", "erf": "Erf", "identity": "Identity",
                   "dropout": "Identity", "add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow",
                   "maximum": "Max", "minimum": "Min", "matmul": "MatMul"}.items():
    ONNX_OPS["nn." + _ir] = _plain(_onnx)


def _dtype(op, i=0):
    return op.operands[i].type.dtype


@onnx_op("rsqrt")
def _rsqrt(e, op, ins, outs):
    s = e.node("Sqrt", ins, e.tmp(outs[0], "sqrt"))
    e.node("Reciprocal", [s], outs[0])


@onnx_op("silu")
def _silu(e, op, ins, outs):
    s = e.node("Sigmoid", ins, e.tmp(outs[0], "sigmoid"))
    e.node("Mul", [ins[0], s], outs[0])


@onnx_op("hardswish")
def _hardswish(e, op, ins, outs):
    if e.opset >= 14:
        return e.node("HardSwish", ins, outs[0])
    s = e.node("HardSigmoid", ins, e.tmp(outs[0], "hardsigmoid"), alpha=1 / 6, beta=0.5)
    e.node("Mul", [ins[0], s], outs[0])


@onnx_op("hardsigmoid")
def _hardsigmoid(e, op, ins, outs):
    e.node("HardSigmoid", ins, outs[0], alpha=op.attrs["alpha"], beta=op.attrs["beta"])


@onnx_op("clamp")
def _clamp(e, op, ins, outs):
    lo, hi = op.attrs.get("min"), op.attrs.get("max")
    dt = _dtype(op)
    args = [ins[0], e.scalar(outs[0], "min", lo, dt) if lo is not None else "",
            e.scalar(outs[0], "max", hi, dt) if hi is not None else ""]
    while args[-1] == "":
        args.pop()
    e.node("Clip", args, outs[0])


@onnx_op("leaky_relu")
def _leaky(e, op, ins, outs):
    e.node("LeakyRelu", ins, outs[0], alpha=op.attrs["negative_slope"])


@onnx_op("elu")
def _elu(e, op, ins, outs):
    e.node("Elu", ins, outs[0], alpha=op.attrs["alpha"])


@onnx_op("gelu")
def _gelu(e, op, ins, outs):
    approx = op.attrs["approximate"]
    if e.opset >= 20:
        return e.node("Gelu", ins, outs[0], approximate=approx)
    x, out, dt = ins[0], outs[0], _dtype(op)
    if approx == "none":  # 0.5 * x * (1 + erf(x / sqrt(2)))
        inner = e.node("Div", [x, e.scalar(out, "sqrt2", math.sqrt(2.0), dt)], e.tmp(out, "div"))
        t = e.node("Erf", [inner], e.tmp(out, "erf"))
    else:  # 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))
        x3 = e.node("Mul", [x, e.node("Mul", [x, x], e.tmp(out, "x2"))], e.tmp(out, "x3"))
        k = e.node("Mul", [x3, e.scalar(out, "c", 0.044715, dt)], e.tmp(out, "cx3"))
        s = e.node("Add", [x, k], e.tmp(out, "sum"))
        inner = e.node("Mul", [s, e.scalar(out, "k", math.sqrt(2.0 / math.pi), dt)], e.tmp(out, "inner"))
        t = e.node("Tanh", [inner], e.tmp(out, "tanh"))
    one_p = e.node("Add", [t, e.scalar(out, "one", 1.0, dt)], e.tmp(out, "onep"))
    half = e.node("Mul", [x, e.scalar(out, "half", 0.5, dt)], e.tmp(out, "half"))
    e.node("Mul", [half, one_p], out)


@onnx_op("softplus")
def _softplus(e, op, ins, outs):
    beta, thr = op.attrs["beta"], op.attrs["threshold"]
    x, out, dt = ins[0], outs[0], _dtype(op)
    bx = x if beta == 1.0 else e.node("Mul", [x, e.scalar(out, "beta", beta, dt)], e.tmp(out, "bx"))
    if thr >= 16 and beta == 1.0:  # above 16, log(1 + e^x) == x in f32: PyTorch's threshold changes nothing
        return e.node("Softplus", [bx], out)
    sp = e.node("Softplus", [bx], e.tmp(out, "softplus"))
    if beta != 1.0:
        sp = e.node("Div", [sp, e.scalar(out, "beta_d", beta, dt)], e.tmp(out, "scaled"))
    cond = e.node("Greater", [bx, e.scalar(out, "threshold", thr, dt)], e.tmp(out, "linear"))
    e.node("Where", [cond, x, sp], out)


# ----------------------------------------------------------------------------- linalg


@onnx_op("linear")
def _linear(e, op, ins, outs):
    x = op.operands[0].type
    if x.rank == 2:
        return e.node("Gemm", ins, outs[0], transB=1)
    wt = e.transpose(ins[1], (1, 0), e.tmp(outs[0], "weight_t"))
    if len(ins) < 3:
        return e.node("MatMul", [ins[0], wt], outs[0])
    mm = e.node("MatMul", [ins[0], wt], e.tmp(outs[0], "matmul"))
    e.node("Add", [mm, ins[2]], outs[0])


@onnx_op("scaled_dot_product_attention")
def _sdpa(e, op, ins, outs):
    q, k = op.operands[0].type, op.operands[1].type
    out, dt = outs[0], q.dtype
    scale = op.attrs.get("scale")
    if scale is None:
        if q.shape[-1] is None:
            raise IrcError("the default scale needs a static head dimension")
        scale = 1.0 / math.sqrt(q.shape[-1])
    perm = list(range(k.rank))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    kt = e.transpose(ins[1], perm, e.tmp(out, "key_t"))
    # scale q and k by sqrt(scale) each, as PyTorch's math kernel does
    s = e.scalar(out, "scale", math.sqrt(scale), dt)
    qs = e.node("Mul", [ins[0], s], e.tmp(out, "q_scaled"))
    ks = e.node("Mul", [kt, s], e.tmp(out, "k_scaled"))
    scores = e.node("MatMul", [qs, ks], e.tmp(out, "scores"))
    if len(ins) > 3:
        if op.operands[3].type.dtype == "i1":
            neg = e.scalar(out, "neg_inf", -np.inf, dt)
            scores = e.node("Where", [ins[3], scores, neg], e.tmp(out, "masked"))
        else:
            scores = e.node("Add", [scores, ins[3]], e.tmp(out, "masked"))
    if op.attrs["is_causal"]:
        L, S = q.shape[-2], k.shape[-2]
        if L is None or S is None:
            raise IrcError("is_causal needs static sequence lengths")
        # an additive 0 / -inf mask: exact, and plain arithmetic for any reader of the file
        mask = np.where(np.tril(np.ones((L, S), dtype=bool)), 0.0, -np.inf).astype(IR_TO_NP[dt])
        m = e.init(f"{out}__causal", mask, dt)
        scores = e.node("Add", [scores, m], e.tmp(out, "causal"))
    p = e.node("Softmax", [scores], e.tmp(out, "probs"), axis=-1)
    e.node("MatMul", [p, ins[2]], out)


# ----------------------------------------------------------------------------- normalisation


@onnx_op("batch_norm")
@spatial
def _bn(e, op, ins, outs):
    e.node("BatchNormalization", ins, outs[0], epsilon=op.attrs["epsilon"])


@onnx_op("layer_norm")
def _layer_norm(e, op, ins, outs):
    x = op.operands[0].type
    rank = x.rank
    axes = sorted(a % rank for a in op.attrs["axes"])
    eps = op.attrs["epsilon"]
    out, dt = outs[0], x.dtype
    trailing = axes == list(range(rank - len(axes), rank))
    if trailing and e.opset >= 17:
        args = list(ins)
        if len(args) < 2:
            shape = [x.shape[a] for a in axes]
            if None in shape:
                raise IrcError("layer_norm without weight over dynamic axes")
            args.append(e.init(f"{out}__ones", np.ones(shape, dtype=IR_TO_NP[dt]), dt))
        return e.node("LayerNormalization", args, out, axis=axes[0], epsilon=eps)
    mean = e.reduce("ReduceMean", ins[0], axes, e.tmp(out, "mean"), True)
    d = e.node("Sub", [ins[0], mean], e.tmp(out, "centered"))
    var = e.reduce("ReduceMean", e.node("Mul", [d, d], e.tmp(out, "sq")), axes, e.tmp(out, "var"), True, "axes_v")
    std = e.node("Sqrt", [e.node("Add", [var, e.scalar(out, "eps", eps, dt)], e.tmp(out, "var_eps"))],
                 e.tmp(out, "std"))
    y = e.node("Div", [d, std], e.tmp(out, "normed") if len(ins) > 1 else out)
    shape = [x.shape[a] if a in axes else 1 for a in range(axes[0], rank)]
    if None in shape:
        shape = [-1 if a in axes else 1 for a in range(axes[0], rank)]
        if shape.count(-1) > 1:
            raise IrcError("layer_norm over several dynamic axes")
    for i, what in ((1, "weight"), (2, "bias")):
        if len(ins) <= i:
            break
        p = e.node("Reshape", [ins[i], e.ints(out, f"{what}_shape", shape)], e.tmp(out, f"{what}_b"))
        last = i == len(ins) - 1
        y = e.node("Mul" if i == 1 else "Add", [y, p], out if last else e.tmp(out, "scaled"))


@onnx_op("group_norm")
def _group_norm(e, op, ins, outs):
    x = op.operands[0].type
    g, eps, out, dt = op.attrs["num_groups"], op.attrs["epsilon"], outs[0], x.dtype
    if e.opset >= 21 and len(ins) == 3:  # GroupNormalization-21 takes PyTorch's per-channel scale and bias
        return e.node("GroupNormalization", ins, out, num_groups=g, epsilon=eps)
    grouped = e.node("Reshape", [ins[0], e.ints(out, "grouped_shape", [0, g, -1])], e.tmp(out, "grouped"))
    mean = e.reduce("ReduceMean", grouped, [2], e.tmp(out, "mean"), True)
    d = e.node("Sub", [grouped, mean], e.tmp(out, "centered"))
    var = e.reduce("ReduceMean", e.node("Mul", [d, d], e.tmp(out, "sq")), [2], e.tmp(out, "var"), True, "axes_v")
    std = e.node("Sqrt", [e.node("Add", [var, e.scalar(out, "eps", eps, dt)], e.tmp(out, "var_eps"))],
                 e.tmp(out, "std"))
    normed = e.node("Div", [d, std], e.tmp(out, "normed"))
    shape = e.node("Shape", [ins[0]], e.tmp(out, "shape"))
    y = e.node("Reshape", [normed, shape], e.tmp(out, "ungrouped") if len(ins) > 1 else out)
    pshape = [-1] + [1] * (x.rank - 2)
    for i, kind in ((1, "Mul"), (2, "Add")):
        if len(ins) <= i:
            break
        p = e.node("Reshape", [ins[i], e.ints(out, f"p{i}_shape", pshape)], e.tmp(out, f"p{i}"))
        y = e.node(kind, [y, p], out if i == len(ins) - 1 else e.tmp(out, "scaled"))


@onnx_op("softmax")
def _softmax(e, op, ins, outs):
    e.node("Softmax", ins, outs[0], axis=op.attrs["axis"])


@onnx_op("log_softmax")
def _log_softmax(e, op, ins, outs):
    e.node("LogSoftmax", ins, outs[0], axis=op.attrs["axis"])


# ----------------------------------------------------------------------------- reductions

def _reduction(kind):
    return lambda e, op, ins, outs: e.reduce(kind, ins[0], op.attrs["axes"], outs[0], op.attrs["keepdims"])


for _ir, _onnx in {"mean": "ReduceMean", "sum": "ReduceSum", "reduce_max": "ReduceMax",
                   "reduce_min": "ReduceMin"}.items():
    ONNX_OPS["nn." + _ir] = _reduction(_onnx)


# ----------------------------------------------------------------------------- resize


@onnx_op("upsample")
@spatial
def _upsample(e, op, ins, outs):
    a = op.attrs
    out = outs[0]
    if a["mode"] == "nearest":
        kw = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    else:
        kw = {"mode": "linear",
              "coordinate_transformation_mode": "align_corners" if a["align_corners"] else "half_pixel"}
    if a.get("scales") is not None:
        scales = e.init(f"{out}__scales", np.asarray([1.0, 1.0] + list(a["scales"]), dtype=np.float32), "f32")
        e.node("Resize", [ins[0], "", scales], out, **kw)
    else:
        if e.opset >= 18:
            sizes = e.ints(out, "sizes", a["size"])
            e.node("Resize", [ins[0], "", "", sizes], out, axes=[2, 3], **kw)
        else:
            shape = e.node("Shape", [ins[0]], e.tmp(out, "shape"))
            nc = e.slice(shape, [0], [0], [2], e.tmp(out, "nc"))
            sizes = e.node("Concat", [nc, e.ints(out, "hw", a["size"])], e.tmp(out, "sizes"), axis=0)
            e.node("Resize", [ins[0], "", "", sizes], out, **kw)


# ----------------------------------------------------------------------------- shape


@onnx_op("concat")
def _concat(e, op, ins, outs):
    e.node("Concat", ins, outs[0], axis=op.attrs["axis"])


@onnx_op("split")
def _split(e, op, ins, outs):
    e.node("Split", [ins[0], e.ints(outs[0], "sizes", op.attrs["sizes"])], outs, axis=op.attrs["axis"])


@onnx_op("slice")
def _slice(e, op, ins, outs):
    a = op.attrs
    e.slice(ins[0], a["axes"], a["starts"], a["ends"], outs[0], a.get("steps"))


@onnx_op("reshape")
def _reshape(e, op, ins, outs):
    e.node("Reshape", [ins[0], e.ints(outs[0], "shape", op.attrs["shape"])], outs[0])


def reshape_to(e, op, ins, outs):
    """A reshape to the op's (possibly partly dynamic) result type: static dims literally, dynamic
    dims the input carries at the same index as 0, at most one other dynamic dim as -1."""
    x, r = op.operands[0].type, op.results[0].type
    from ..passes.canonicalize import passthrough

    carried = passthrough(op)
    target = []
    for i, d in enumerate(r.shape):
        if d is not None:
            target.append(d)
        elif carried.get(i) == i and x.shape[i] is None:
            target.append(0)
        else:
            target.append(-1)
    if target.count(-1) > 1:
        raise IrcError(f"cannot write {x} -> {r} as one ONNX Reshape")
    if any(d == 0 for d in r.shape):
        raise IrcError("zero-sized dimensions are not supported")
    e.node("Reshape", [ins[0], e.ints(outs[0], "shape", target)], outs[0])


@onnx_op("flatten")
def _flatten(e, op, ins, outs):
    x = op.operands[0].type
    s = op.attrs["start_axis"] % max(x.rank, 1)
    end = op.attrs["end_axis"] % max(x.rank, 1)
    if x.rank >= 2 and s == 1 and end == x.rank - 1:
        return e.node("Flatten", ins, outs[0], axis=1)
    reshape_to(e, op, ins, outs)


@onnx_op("squeeze")
def _squeeze(e, op, ins, outs):
    axes = op.attrs["axes"]
    e.node("Squeeze", [ins[0], e.ints(outs[0], "axes", axes)], outs[0])


@onnx_op("unsqueeze")
def _unsqueeze(e, op, ins, outs):
    e.unsqueeze(ins[0], op.attrs["axes"], outs[0])


@onnx_op("transpose")
def _transpose(e, op, ins, outs):
    e.transpose(ins[0], op.attrs["perm"], outs[0])


@onnx_op("pad")
def _pad(e, op, ins, outs):
    a = op.attrs
    pads, out = a["pads"], outs[0]
    x = op.operands[0].type
    if a["mode"] == "circular":
        cur = ins[0]
        todo = [(ax, b, en) for ax, (b, en) in enumerate(pads) if b or en]
        for j, (ax, b, en) in enumerate(todo):
            if b < 0 or en < 0:
                raise IrcError("circular padding must not be negative")
            parts = []
            if b:
                parts.append(e.slice(cur, [ax], [-b], [2**63 - 1], e.tmp(out, f"wrap_b{ax}")))
            parts.append(cur)
            if en:
                parts.append(e.slice(cur, [ax], [0], [en], e.tmp(out, f"wrap_e{ax}")))
            cur = e.node("Concat", parts, out if j == len(todo) - 1 else e.tmp(out, f"wrap{ax}"), axis=ax)
        if not todo:
            e.node("Identity", [cur], out)
        return
    flat = [b for b, _ in pads] + [en for _, en in pads]
    mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}[a["mode"]]
    args = [ins[0], e.ints(out, "pads", flat)]
    if mode == "constant" and a["value"] != 0.0:
        args.append(e.scalar(out, "value", a["value"], x.dtype))
    e.node("Pad", args, out, mode=mode)


@onnx_op("expand")
def _expand(e, op, ins, outs):
    x = op.operands[0].type
    target = list(op.attrs["shape"])
    lead = len(target) - x.rank
    shape = [1 if t == -1 else t for t in target]  # ONNX Expand broadcasts: 1 keeps the input's dim
    for i in range(lead, len(target)):
        if target[i] != -1 and x.shape[i - lead] is None:
            shape[i] = target[i]
    e.node("Expand", [ins[0], e.ints(outs[0], "shape", shape)], outs[0])


@onnx_op("expand_like")
def _expand_like(e, op, ins, outs):
    out = outs[0]
    target = [1 if t == -1 else t for t in op.attrs["shape"]]
    like = {i: j for i, j in op.attrs["like_dims"]}
    lrank = op.operands[1].type.rank
    shape = e.node("Shape", [ins[1]], e.tmp(out, "like_shape"))
    parts = []
    for i, t in enumerate(target):
        if i in like:
            j = like[i] % lrank
            parts.append(e.node("Gather", [shape, e.ints(out, f"dim{i}", [j])], e.tmp(out, f"d{i}"), axis=0))
        else:
            parts.append(e.ints(out, f"c{i}", [t]))
    dims = e.node("Concat", parts, e.tmp(out, "shape"), axis=0)
    e.node("Expand", [ins[0], dims], out)


@onnx_op("roll")
def _roll(e, op, ins, outs):
    x = op.operands[0].type
    cur, out = ins[0], outs[0]
    pairs = list(zip(op.attrs["shifts"], op.attrs["axes"]))
    for j, (shift, ax) in enumerate(pairs):
        ax %= x.rank
        n = x.shape[ax]
        if n is None:
            raise IrcError(f"roll along dynamic dimension {ax}")
        s = shift % n
        target = out if j == len(pairs) - 1 else e.tmp(out, f"roll{ax}")
        if s == 0:
            cur = e.node("Identity", [cur], target)
            continue
        tail = e.slice(cur, [ax], [n - s], [n], e.tmp(out, f"tail{ax}"))
        head = e.slice(cur, [ax], [0], [n - s], e.tmp(out, f"head{ax}"))
        cur = e.node("Concat", [tail, head], target, axis=ax)


@onnx_op("gather")
def _gather(e, op, ins, outs):
    e.node("Gather", ins, outs[0], axis=op.attrs["axis"])


# ----------------------------------------------------------------------------- recurrent

# PyTorch's gate blocks -> ONNX's: LSTM i,f,g,o -> i,o,f,c; GRU r,z,n -> z,r,h; RNN has one
_GATE_ORDER = {"lstm": [0, 3, 1, 2], "gru": [1, 0, 2], "rnn": [0]}


def _recurrent(e, op, ins, outs):
    """One ONNX LSTM/GRU/RNN node per layer (both directions in one node), weights reordered into ONNX's gate
    order and [num_directions, ...] layout at emit time; outputs brought back to PyTorch's layout."""
    a, kind = op.attrs, op.kind
    x_t = op.operands[0].type
    hidden, layers, bidir = a["hidden_size"], a["num_layers"], a["bidirectional"]
    dirs = 2 if bidir else 1
    per = 4 if a["bias"] else 2
    n = layers * dirs * per
    weights, states = op.operands[1:1 + n], ins[1 + n:]
    store = e.module.weights
    arrays = []
    for w in weights:
        if w.owner is None or w.owner.name != "nn.param":
            raise IrcError(f"nn.{kind} weights must be params to be reordered for ONNX (got %{w.name})")
        arrays.append(np.asarray(store.numpy(w.owner.attrs["key"])))
    g = len(_GATE_ORDER[kind])
    order = _GATE_ORDER[kind]

    def gates(arr):
        blocks = np.split(arr, g, axis=0)
        return np.concatenate([blocks[i] for i in order], axis=0)

    out, dt = outs[0], x_t.dtype
    cur = ins[0]
    if a["batch_first"]:
        cur = e.transpose(cur, (1, 0, 2), e.tmp(out, "seq_first"))
    hs, cs = [], []
    onnx_kind = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}[kind]
    for k in range(layers):
        chunk = arrays[k * dirs * per:(k + 1) * dirs * per]
        w = np.stack([gates(chunk[d * per]) for d in range(dirs)])
        r = np.stack([gates(chunk[d * per + 1]) for d in range(dirs)])
        node_ins = [cur, e.init(f"{out}__W_l{k}", w.astype(IR_TO_NP[dt]), dt),
                    e.init(f"{out}__R_l{k}", r.astype(IR_TO_NP[dt]), dt)]
        if a["bias"]:
            b = np.stack([np.concatenate([gates(chunk[d * per + 2]), gates(chunk[d * per + 3])]) for d in range(dirs)])
            node_ins.append(e.init(f"{out}__B_l{k}", b.astype(IR_TO_NP[dt]), dt))
        else:
            node_ins.append("")
        node_ins.append("")  # sequence_lens: every sequence is full length
        for j, st in enumerate(states):
            node_ins.append(e.slice(st, [0], [k * dirs], [(k + 1) * dirs], e.tmp(out, f"state{j}_l{k}")))
        while node_ins[-1] == "":
            node_ins.pop()
        y, yh = e.tmp(out, f"y_l{k}"), e.tmp(out, f"h_l{k}")
        node_outs = [y, yh] + ([e.tmp(out, f"c_l{k}")] if kind == "lstm" else [])
        attrs = {"hidden_size": hidden, "direction": "bidirectional" if bidir else "forward"}
        if kind == "gru":
            attrs["linear_before_reset"] = 1
        if kind == "rnn":
            attrs["activations"] = ["Relu" if a["nonlinearity"] == "relu" else "Tanh"] * dirs
        e.node(onnx_kind, node_ins, node_outs, name=e.tmp(out, f"{kind}_l{k}"), **attrs)
        hs.append(yh)
        if kind == "lstm":
            cs.append(node_outs[2])
        # Y [seq, dirs, batch, hidden] -> [seq, batch, dirs * hidden]
        yt = e.transpose(y, (0, 2, 1, 3), e.tmp(out, f"y_t_l{k}"))
        last = k == layers - 1 and not a["batch_first"]
        cur = e.node("Reshape", [yt, e.ints(out, f"y_shape_l{k}", [0, 0, dirs * hidden])],
                     out if last else e.tmp(out, f"seq_l{k}"))
    if a["batch_first"]:
        e.transpose(cur, (1, 0, 2), out)
    for res, parts in zip(outs[1:], (hs, cs)):
        if len(parts) == 1:
            e.node("Identity", parts, res)
        else:
            e.node("Concat", parts, res, axis=0)


for _k in ("lstm", "gru", "rnn"):
    ONNX_OPS["nn." + _k] = _recurrent


def unmapped_ops() -> list[str]:
    """Registry ops the ONNX emitter cannot write (for the gap test and the docs)."""
    from ..ir.ops import OPS

    return sorted(n for n in OPS if n not in ONNX_OPS and n != "nn.param")


__all__ = ["DEFAULT_OPSET", "ONNX_OPS", "OPSETS", "build_model", "emit_onnx", "unmapped_ops"]
