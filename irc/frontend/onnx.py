"""ONNX → IR: `import_onnx(path_or_model, name=None) -> Module`.

Reads opsets 13 to 21 (and the attribute forms older opsets use for Split, Squeeze, Unsqueeze,
Reduce*, Pad, Clip, Slice, Softmax, Upsample). How ONNX semantics map:

- Values: every ONNX value becomes an IR value (named after its module path when the exporter
  recorded one — torch's name scopes or `/layer1/layer1.0/conv1/Conv` node names — else after the
  ONNX value name, sanitised), or a constant known at import time, or a *shape vector* (the output
  of Shape on a tensor with dynamic dims: entries are ints or symbolic dims). Shape arithmetic on
  constants and shape vectors is folded here (Shape/Gather/Slice/Concat/Unsqueeze/... and anything
  else whose inputs are all constant, with ONNX's reference evaluator), so a Reshape whose target
  came from `x.size(0)` becomes `nn.reshape` with 0 (copy) or -1 entries.
- Initializers become `nn.param` keyed by their sanitised names, made only when a computing op uses
  them; small computed constants (at most 32 elements) become `nn.constant`.
- Conv/pool `auto_pad` SAME_UPPER/SAME_LOWER become explicit padding (the extra pixel at the end for
  UPPER, at the start for LOWER); that needs static spatial dims. pads [t, l, b, r] become
  [[t, b], [l, r]]. AveragePool `count_include_pad` and `ceil_mode` carry over (irc's ceil rule is
  PyTorch's, which onnxruntime also implements).
- Gemm: transB=1 with alpha=beta=1 and a 1-D C is `nn.linear`; otherwise transposes, scales and an
  add are written out, so any transA/transB/alpha/beta is exact.
- Resize: nearest with coordinate mode "asymmetric" and nearest_mode "floor" (PyTorch's nearest),
  linear with "align_corners", "half_pixel" (or "pytorch_half_pixel" when no output dim is 1: the
  two differ only there, and PyTorch itself samples half_pixel) map to nn.upsample; other modes are
  reported as unsupported rather than approximated.
- HardSigmoid keeps its alpha/beta (ONNX default 0.2/0.5, not PyTorch's 1/6).

Unsupported ops are collected and reported together in one IrcError naming each node and op type;
nothing is returned or written.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict

import numpy as np

from ..ir import DenseAttr, Func, IrcError, Module, NameLoc, Op, TensorType, Value, WeightStore, verify
from ..ir.core import DENSE_MAX, INT64_MAX, sanitize_name as sanitize  # noqa: F401 (re-exported)
from ..ir.ops import OPS
from ..ir.ops.registry import infer_types, normalize_attrs

OPSET_MIN, OPSET_MAX = 13, 21


class Unsupported(Exception):
    """This node cannot be imported; the message says why (collected and reported together)."""


class _Poisoned(Exception):
    pass


def value_name(onnx_name: str) -> str:
    """A readable IR name for an ONNX value: `/layer1/Constant_3_output_0` -> `layer1.Constant_3`."""
    n = str(onnx_name)
    if n.startswith("/"):
        n = n.strip("/").replace("/", ".")
        n = n.removesuffix("_output_0")
    return sanitize(n)


def _onnx_dtypes():
    from onnx import TensorProto as T

    return {T.FLOAT: "f32", T.FLOAT16: "f16", T.BFLOAT16: "bf16", T.DOUBLE: "f64", T.BOOL: "i1", T.INT8: "i8",
            T.INT16: "i16", T.INT32: "i32", T.INT64: "i64", T.UINT8: "u8"}


NP_OF = {"f16": np.float16, "f32": np.float32, "f64": np.float64, "i1": np.bool_, "i8": np.int8, "i16": np.int16,
         "i32": np.int32, "i64": np.int64, "u8": np.uint8}


def nice_float(v) -> float:
    """The double a float32 attribute most likely was: a small fraction (1/6 for PyTorch's hardsigmoid) when
    one rounds to the same float32, else the shortest decimal that does (0.1, 1e-05, ...)."""
    v = float(v)
    f = np.float32(v)
    if not np.isfinite(f) or f == 0:
        return v
    for d in range(1, 17):
        n = round(v * d)
        if n != 0 and abs(n) <= 64 * d and np.float32(n / d) == f:
            return n / d
    short = float(np.format_float_positional(f, unique=True)) if abs(v) >= 1e-4 else float(
        np.format_float_scientific(f, unique=True))
    return short if np.float32(short) == f else v


def _ir_dtype(arr: np.ndarray) -> str:
    for k, v in NP_OF.items():
        if arr.dtype == np.dtype(v):
            return k
    raise Unsupported(f"tensor of dtype {arr.dtype} has no irc element type")


# ----------------------------------------------------------------------------- values during import


class Const:
    """A tensor known at import time; `init` is the initializer name it came from, if any."""

    __slots__ = ("array", "bf16", "init")

    def __init__(self, array, init=None, bf16=False):
        self.array = np.asarray(array)
        self.init = init
        self.bf16 = bf16


class Sym:
    """A dynamic dimension: dim `dim` of IR value `value` (ONNX name `onnx`, inferred symbol `param`)."""

    __slots__ = ("dim", "param", "value")

    def __init__(self, value, dim, param):
        self.value, self.dim, self.param = value, dim, param

    def same(self, other) -> bool:
        if not isinstance(other, Sym):
            return False
        if self.value is other.value and self.dim == other.dim:
            return True
        return self.param is not None and self.param == other.param

    def _op(self, other):
        return Opaque()

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __floordiv__ = __rfloordiv__ = _op
    __truediv__ = __rtruediv__ = __mod__ = _op


class Opaque(Sym):
    """A dynamic number computed from dynamic dims (known only at run time)."""

    def __init__(self):
        super().__init__(None, None, None)

    def same(self, other) -> bool:
        return False


class Shp:
    """A small int tensor (shape arithmetic) with some dynamic entries: a NumPy object array."""

    __slots__ = ("array",)

    def __init__(self, array):
        self.array = np.asarray(array, dtype=object)


class Deferred:
    """A comparison of run-time values (Greater, Less): irc has no boolean ops, so it is kept until a Where
    consumes it in a pattern irc can express (PyTorch's softplus threshold)."""

    __slots__ = ("node",)

    def __init__(self, node):
        self.node = node


def _shp_or_const(arr):
    arr = np.asarray(arr, dtype=object)
    if any(isinstance(v, Sym) for v in arr.ravel()):
        return Shp(arr)
    return Const(np.asarray(arr.tolist(), dtype=np.int64).reshape(arr.shape))


# ----------------------------------------------------------------------------- the importer


def load_onnx(src):
    """A ModelProto from a path, bytes or a ModelProto (external data resolved beside the file)."""
    import onnx

    if isinstance(src, onnx.ModelProto):
        return src
    if isinstance(src, (bytes, bytearray)):
        return onnx.load_from_string(bytes(src))
    path = os.fspath(src)
    if not os.path.exists(path):
        raise IrcError(f"{path}: no such file")
    try:
        return onnx.load(path)
    except Exception as e:  # noqa: BLE001  (protobuf and onnx raise many kinds)
        first = str(e).splitlines()[0] if str(e) else ""
        raise IrcError(f"{path}: not a readable ONNX model: {type(e).__name__}: {first}") from None


def is_onnx_file(path: str) -> bool:
    """True when the file parses as an ONNX ModelProto with a graph (checked from content, not name)."""
    try:
        with open(path, "rb") as f:
            head = f.read(1)
        if head not in (b"\x08", b"\x12", b"\x1a", b"\x22", b"\x2a", b"\x32", b"\x3a", b"\x42"):
            return False
        import onnx

        m = onnx.load(path, load_external_data=False)
        return m.HasField("graph") and m.ir_version > 0
    except Exception:  # noqa: BLE001  (not a protobuf: not ONNX)
        return False


def import_onnx(src, name: str | None = None, progress=None, warn=None) -> Module:
    """Import an ONNX model (path, bytes or ModelProto) as an irc Module with an in-memory weight store."""
    model = load_onnx(src)
    if name is None:
        if isinstance(src, (str, os.PathLike)):
            name = os.path.splitext(os.path.basename(os.fspath(src)))[0]
        else:
            name = model.graph.name or "onnx_model"
    return _Importer(model, sanitize(name).replace(".", "_"), progress, warn).run()


def _without_weight_bytes(model):
    """A copy of `model` for shape inference, without the bytes of its large float initializers.

    Shape inference copies the whole model into C++ and back (VGG16: 3.4 s and 1.6 GB above the
    model itself); it needs only the dims and types of weights. Integer initializers and small ones
    keep their values, which data propagation reads (Reshape shapes, Slice starts, ...)."""
    import onnx

    light = onnx.ModelProto()
    light.ir_version = model.ir_version
    light.opset_import.extend(model.opset_import)
    light.functions.extend(model.functions)
    g, src = light.graph, model.graph
    g.name = src.name
    for field in ("node", "input", "output", "value_info", "sparse_initializer"):
        getattr(g, field).extend(getattr(src, field))
    keep = (onnx.TensorProto.INT64, onnx.TensorProto.INT32)
    for t in src.initializer:
        n = 1
        for d in t.dims:
            n *= d
        if n <= 1024 or t.data_type in keep:
            g.initializer.add().CopyFrom(t)
        else:
            lt = g.initializer.add()
            lt.name, lt.data_type = t.name, t.data_type
            lt.dims.extend(t.dims)
    return light


class _Importer:
    def __init__(self, model, name, progress=None, warn=None):
        self.model = model
        self.graph = model.graph
        self.name = name
        self.progress = progress or (lambda msg: None)
        self.warn = warn or (lambda msg: None)
        self.opset = None
        for o in model.opset_import:
            if o.domain in ("", "ai.onnx"):
                self.opset = o.version
        if self.opset is None:
            raise IrcError("the model imports no version of the default ONNX domain")
        self.dt = _onnx_dtypes()
        self.env: dict = {}
        self.errors = []
        self.store = WeightStore()
        self.params: dict[str, Value] = {}
        self.init_keys: dict[str, str] = {}
        self.dims: dict[str, list] = {}
        self.node = None
        self.func = None
        self._consumed = None
        self.onnx_names: dict[int, str] = {}  # id(IR value) -> the ONNX name it was first bound to

    # -- types

    def _read_dims(self):
        """Dim symbols of every value from ONNX shape inference (dim_param strings or ints)."""
        import onnx

        try:
            inferred = onnx.shape_inference.infer_shapes(_without_weight_bytes(self.model), data_prop=True)
            infos = list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output)
        except Exception:  # noqa: BLE001  (inference is a hint; fall back to the declared shapes)
            infos = list(self.graph.value_info) + list(self.graph.input) + list(self.graph.output)
        for vi in infos:
            tt = vi.type.tensor_type
            if tt.HasField("shape"):
                self.dims[vi.name] = [d.dim_value if d.HasField("dim_value") else
                                      (d.dim_param or None) for d in tt.shape.dim]

    def arg_type(self, vi) -> TensorType:
        tt = vi.type.tensor_type
        if tt.elem_type not in self.dt:
            raise IrcError(f"graph input {vi.name} has an element type irc does not support ({tt.elem_type})")
        if not tt.HasField("shape"):
            raise IrcError(f"graph input {vi.name} has no shape; irc needs at least its rank")
        shape = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tt.shape.dim)
        return TensorType(shape, self.dt[tt.elem_type])

    # -- names

    def base_name(self, node, i=0) -> str:
        out = node.output[i] if i < len(node.output) else ""
        scopes = None
        for p in node.metadata_props:
            if p.key == "pkg.torch.onnx.name_scopes":
                try:
                    import ast

                    scopes = ast.literal_eval(p.value)
                except (ValueError, SyntaxError):
                    scopes = None
        if scopes and len(scopes) >= 2 and scopes[-2]:
            base = scopes[-2]
        elif node.name.startswith("/"):
            parts = [p for p in node.name.strip("/").split("/") if p]
            mods = parts[:-1]
            base = ""
            for p in mods:
                base = p if not base or p.startswith(base + ".") else base + "." + p
            if not base:
                base = (parts[-1].split("_")[0] if parts else "v").lower()
        else:
            base = value_name(out) if out else node.op_type.lower()
        return sanitize(base)

    # -- value access

    def get(self, name):
        if name == "":
            return None
        if name not in self.env:
            raise Unsupported(f"input '{name}' is not defined before this node")
        v = self.env[name]
        if v is _POISON:
            raise _Poisoned()
        return v

    def inp(self, i):
        node = self.node
        if i >= len(node.input) or node.input[i] == "":
            return None
        return self.get(node.input[i])

    def val(self, i, what="input"):
        """Operand i as an IR value (constants become params or nn.constant)."""
        x = self.inp(i)
        if x is None:
            raise Unsupported(f"{what} (input {i}) is missing")
        return self.as_value(x, self.node.input[i])

    def opt_val(self, i):
        x = self.inp(i)
        return None if x is None else self.as_value(x, self.node.input[i])

    def as_value(self, x, onnx_name="const") -> Value:
        if isinstance(x, Value):
            return x
        if isinstance(x, Shp):
            raise Unsupported("a shape computed at run time (from a dynamic dimension) is used as data; "
                              "irc needs it to be static")
        if isinstance(x, Affine):
            raise Unsupported("index arithmetic over a dynamic dimension is used as data")
        if isinstance(x, Deferred):
            raise Unsupported(f"the result of {x.node.op_type} ({x.node.name or x.node.output[0]}) is used as a "
                              "tensor; irc has no boolean ops (only Where patterns it can express)")
        if x.init is not None:
            key = self.init_keys.get(x.init)
            if key is None:
                key = self.init_keys[x.init] = self.store.fresh_key(sanitize(x.init))
                arr = x.array
                dtype = "bf16" if x.bf16 else _ir_dtype(arr)
                self.store.add(key, arr, dtype)
                op = Op("nn.param", [], {"key": key}, [TensorType(tuple(arr.shape), dtype)], [key])
                self.func.append(op)
                self.params[key] = op.result
            return self.params[key]
        arr = x.array
        dtype = _ir_dtype(arr)
        if arr.size <= DENSE_MAX:
            vals = arr.tolist()
            if dtype in ("f16", "f32") and arr.size:
                vals = np.vectorize(nice_float, otypes=[object])(arr).tolist()
            if arr.size > 1 and (arr == arr.ravel()[0]).all():  # a splat
                while isinstance(vals, list):
                    vals = vals[0]
            dense = DenseAttr(vals, TensorType(tuple(arr.shape), dtype))
            return self.emit("constant", [], {"value": dense}, name=value_name(onnx_name))
        key = self.store.fresh_key(value_name(onnx_name))
        self.store.add(key, arr, dtype)
        op = Op("nn.param", [], {"key": key}, [TensorType(tuple(arr.shape), dtype)], [key])
        self.func.append(op)
        self.params[key] = op.result
        return op.result

    def new_param(self, base: str, arr) -> Value:
        """A new weight (made here, e.g. reordered from an initializer) under a fresh key."""
        key = self.store.fresh_key(sanitize(base))
        self.store.add(key, arr, _ir_dtype(arr))
        op = Op("nn.param", [], {"key": key}, [TensorType(tuple(arr.shape), _ir_dtype(arr))], [key])
        self.func.append(op)
        self.params[key] = op.result
        return op.result

    def const(self, i, what="input"):
        """Operand i as a NumPy array known at import time."""
        x = self.inp(i)
        if x is None:
            return None
        if isinstance(x, Const):
            return x.array
        if isinstance(x, Shp):
            raise Unsupported(f"{what} depends on a dynamic dimension; irc needs it static")
        raise Unsupported(f"{what} is computed at run time; irc needs it to be a constant")

    def ints(self, i, what="input"):
        arr = self.const(i, what)
        return None if arr is None else [int(v) for v in np.asarray(arr).ravel()]

    def attr(self, key, default=None):
        from onnx import helper

        for a in self.node.attribute:
            if a.name == key:
                v = helper.get_attribute_value(a)
                if isinstance(v, bytes):
                    v = v.decode()
                if isinstance(v, float):
                    v = nice_float(v)
                if isinstance(v, list):
                    v = [x.decode() if isinstance(x, bytes) else nice_float(x) if isinstance(x, float) else x
                         for x in v]
                return v
        return default

    # -- emitting

    def emit(self, kind, operands, attrs=None, name=None, nresults=None):
        full = "nn." + kind
        opdef = OPS[full]
        attrs = {k: v for k, v in (attrs or {}).items() if v is not None}
        try:
            norm = normalize_attrs(opdef, attrs)
            types = infer_types(opdef, [v.type for v in operands], norm)
        except Exception as e:  # noqa: BLE001  (a registry verifier may raise anything)
            raise Unsupported(f"cannot form {full}: {e}") from None
        if name is None:
            name = self.base_name(self.node) if self.node is not None else kind
        names = list(name) if isinstance(name, list) else [name] * len(types)
        name = names[0]
        loc = None
        if self.node is not None and self.node.name and sanitize(self.node.name) != name:
            loc = NameLoc(self.node.name)
        op = Op(full, operands, attrs, types, names, loc=loc)
        self.func.append(op)
        return op.results if nresults is not None else op.results[0]

    # -- the run

    def run(self) -> Module:

        g = self.graph
        if not OPSET_MIN - 6 <= self.opset <= OPSET_MAX:
            raise IrcError(f"opset {self.opset} is not supported: irc imports opsets {OPSET_MIN} to {OPSET_MAX} "
                           "(convert with onnx.version_converter first)")
        self.progress("reading shapes")
        self._read_dims()
        inits = {t.name for t in g.initializer}
        args = []
        names = set()
        for vi in g.input:
            if vi.name in inits:
                continue
            t = self.arg_type(vi)
            n = sanitize(vi.name)
            base, k = n, 0
            while n in names:
                k += 1
                n = f"{base}_{k}"
            names.add(n)
            args.append(Value(n, t))
        func = Func("forward", args, [])
        for a in args:
            a.owner = None
        self.func = func
        for vi, a in zip([v for v in g.input if v.name not in inits], args):
            self.env[vi.name] = a
        for t in g.initializer:
            self.env[t.name] = self.initializer(t)
        self.producer = {o: n for n in g.node for o in n.output}
        total = len(g.node)
        for k, node in enumerate(g.node):
            if k % 200 == 0:
                self.progress(f"lowering node {k}/{total}")
            self.lower(node)
        self.node = None
        outs = []
        for o in g.output:
            try:
                x = self.get(o.name)
                v = self.as_value(x, o.name)
                outs.append(v)
            except _Poisoned:
                pass
            except Unsupported as e:
                self.errors.append((o.name, "output", str(e)))
        if self.errors:
            raise IrcError(self.report())
        func.set_outputs(outs)
        func.result_types = [v.type for v in outs]
        _fuse_silu(func)
        _STORE[0] = self.store
        try:
            _fuse_gelu(func)
        finally:
            _STORE[0] = None
        _fuse_linear(func, self.store)
        _drop_dead(func)
        _rnn.merge_layers(func)  # one op per stacked recurrent module, not per exported layer
        module = Module(self.name, {}, [func], weights=self.store)
        func.module = module
        verify(module)
        return module

    def initializer(self, t):
        from onnx import TensorProto, numpy_helper

        if t.data_type == TensorProto.BFLOAT16:
            raw = np.frombuffer(t.raw_data, dtype=np.uint16) if t.raw_data else np.asarray(t.int32_data, np.uint16)
            return Const(raw.reshape(tuple(t.dims)).copy(), init=t.name, bf16=True)
        if t.data_type not in self.dt:
            return _POISON_T
        return Const(numpy_helper.to_array(t), init=t.name)

    def lower(self, node):
        self.node = node
        try:
            ins = [self.get(n) if n else None for n in node.input]
        except _Poisoned:
            self._poison(node)
            return
        except Unsupported as e:
            self.fail(node, str(e))
            return
        if any(x is _POISON_T for x in ins):
            self.fail(node, "an initializer has an element type irc does not support")
            return
        if node.op_type != "Where" and any(isinstance(x, Deferred) for x in ins):
            d = next(x for x in ins if isinstance(x, Deferred))
            self.fail(d.node, f"its boolean result feeds {node.op_type} ({node.name}); irc has no boolean ops")
            self._poison(node)
            return
        try:
            if node.domain not in ("", "ai.onnx"):
                raise Unsupported(f"operator domain '{node.domain}' is not supported")
            outs = None
            consts = [x for x in ins if x is not None]
            # a Transpose of a weight stays an op, so that the weight keeps its key (and matmul(x, W^T) + b
            # becomes nn.linear again); other constant subgraphs are folded
            all_const = bool(consts) and len(consts) == len(ins) - ins.count(None) \
                and all(isinstance(x, Const) and not x.bf16 for x in consts) \
                and not (node.op_type == "Transpose" and consts[0].init is not None
                         and consts[0].array.dtype.kind == "f")
            if node.op_type == "Constant" or (node.op_type not in NO_FOLD and all_const):
                outs = self.fold(node, ins)
            if outs is None and any(isinstance(x, Affine) for x in ins):
                if node.op_type not in AFFINE_OPS:
                    raise Unsupported("index arithmetic over a dynamic dimension (as the default exporter writes "
                                      "as_strided) that irc cannot express")
                outs = AFFINE_OPS[node.op_type](self, node, ins)
            if outs is None and any(isinstance(x, Shp) for x in ins) and node.op_type in SHAPE_OPS \
                    and not any(isinstance(x, Value) for x in ins):
                outs = SHAPE_OPS[node.op_type](self, node, ins)
            if outs is None:
                handler = HANDLERS.get(node.op_type)
                if handler is None:
                    raise Unsupported("no irc mapping for this ONNX operator")
                outs = handler(self, node)
            if not isinstance(outs, (list, tuple)):
                outs = [outs]
            for i, o in enumerate(node.output):
                if not o:
                    continue
                if i < len(outs) and outs[i] is not None:
                    self.env[o] = outs[i]
                    if isinstance(outs[i], Value):
                        self.onnx_names.setdefault(id(outs[i]), o)
                else:
                    self.env[o] = _POISON
                    if self._used(o):
                        raise Unsupported(f"output {i} ({o}) is used, but irc does not produce it")
        except _Poisoned:
            self._poison(node)
        except Unsupported as e:
            self.fail(node, str(e))

    def _used(self, name) -> bool:
        if self._consumed is None:
            self._consumed = {i for n in self.graph.node for i in n.input} | {o.name for o in self.graph.output}
        return name in self._consumed

    def _poison(self, node):
        for o in node.output:
            self.env[o] = _POISON

    def fold(self, node, ins):
        """Evaluate a node whose inputs are all constants, with ONNX's reference evaluator."""
        from onnx import helper
        from onnx.reference import ReferenceEvaluator

        names = [f"i{k}" if n else "" for k, n in enumerate(node.input)]
        feeds = {f"i{k}": x.array for k, x in enumerate(ins) if x is not None}
        outs = [f"o{k}" for k in range(len(node.output))]
        n2 = helper.make_node(node.op_type, names, outs, domain=node.domain)
        n2.attribute.extend(node.attribute)
        g = helper.make_graph([n2], "fold", [helper.make_tensor_value_info(k, 0, None) for k in feeds],
                              [helper.make_tensor_value_info(o, 0, None) for o in outs])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", self.opset)])
        try:
            res = ReferenceEvaluator(m).run(None, feeds)
        except Exception as e:  # noqa: BLE001  (the reference evaluator raises many kinds)
            raise Unsupported(f"cannot evaluate this constant {node.op_type}: {type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''}") from None
        return [Const(np.asarray(r)) for r in res]

    def fail(self, node, reason):
        self._poison(node)
        self.errors.append((node.name or (node.output[0] if node.output else "?"), node.op_type, reason))

    def report(self) -> str:
        groups: OrderedDict = OrderedDict()
        for where, op_type, reason in self.errors:
            groups.setdefault((op_type, reason), []).append(where)
        kinds = len({k[0] for k in groups})
        n = len(self.errors)
        lines = [(f"cannot import {self.name}: {kinds} unsupported op{'s' if kinds != 1 else ''} "
                  f"({n} node{'s' if n != 1 else ''}); nothing was written")]
        for (op_type, reason), where in groups.items():
            lines.append(f"  {op_type} x{len(where)}: {reason}")
            for w in where[:8]:
                lines.append(f"      at node {w}")
            if len(where) > 8:
                lines.append(f"      ... and {len(where) - 8} more nodes")
        return "\n".join(lines)


def _fuse_silu(func):
    """x * sigmoid(x), as both torch exporters write SiLU, becomes nn.silu when the sigmoid has no other use."""
    from ..ir.rewriter import Rewriter

    rw = Rewriter(func)
    for op in list(func.ops):
        if op.name != "nn.mul" or rw.is_erased(op):
            continue
        a, b = op.operands
        for x, s in ((a, b), (b, a)):
            sig = s.owner
            if sig is not None and sig.name == "nn.sigmoid" and sig.operands[0] is x and len(s.uses) == 1 \
                    and x.type == op.results[0].type:
                rw.rebuild(op, operands=[x], attrs={}, name="nn.silu")
                rw.erase_op(sig)
                break
    rw.commit()


_STORE = [None]  # the weight store of the import in progress, for _const_scalar


def _const_scalar(v):
    op = v.owner
    if op is not None and op.name == "nn.param" and _STORE[0] is not None:
        arr = _STORE[0].numpy(op.attrs["key"])
        return float(arr.ravel()[0]) if arr.size == 1 and arr.dtype.kind == "f" else None
    if op is None or op.name != "nn.constant":
        return None
    vals = op.attrs["value"].values
    while isinstance(vals, list):
        if len(vals) != 1:
            return None
        vals = vals[0]
    return float(vals)


def _near(a, b):
    return a is not None and abs(a - b) <= 1e-6 * abs(b)


def _only_use(v):
    return len(v.uses) == 1


def _other(op, v):
    a, b = op.operands
    return b if a is v else a if b is v else None


def _gelu_tail(add, x):
    """The op computing 0.5 * x * add, in the orders exporters write it (add = 1 + erf(...) or 1 + tanh(...))."""
    if add.name != "nn.add" or not _only_use(add.result):
        return None
    m = add.result.uses[0]
    if m.name != "nn.mul":
        return None
    o = _other(m, add.result)
    if o is x or _near(_const_scalar(o), 0.5):  # (x * add) * 0.5  or  (add * 0.5) * x
        if not _only_use(m.result):
            return None
        n = m.result.uses[0]
        want = 0.5 if o is x else None
        if n.name == "nn.mul" and (_near(_const_scalar(_other(n, m.result)), 0.5) if want else _other(n, m.result) is x):
            return n
        return None
    h = o.owner if o is not None else None  # (x * 0.5) * add
    if h is not None and h.name == "nn.mul" and _only_use(o) and _other(h, x) is not None \
            and _near(_const_scalar(_other(h, x)), 0.5):
        return m
    return None


def _plus_one(t):
    """The add(t, 1) that uses t, or None."""
    if not _only_use(t.result):
        return None
    add = t.result.uses[0]
    return add if add.name == "nn.add" and _near(_const_scalar(_other(add, t.result)), 1.0) else None


def _cube_of(v):
    """x when v is x * (x * x), (x * x) * x or x ** 3."""
    op = v.owner
    if op is None or not _only_use(v):
        return None
    if op.name == "nn.pow" and _near(_const_scalar(op.operands[1]), 3.0):
        return op.operands[0]
    if op.name != "nn.mul":
        return None
    for x, sq in (op.operands, op.operands[::-1]):
        s = sq.owner
        if s is not None and s.name == "nn.mul" and _only_use(sq) and s.operands[0] is x and s.operands[1] is x:
            return x
    return None


def _fuse_gelu(func):
    """0.5 * x * (1 + erf(x / sqrt(2))) and 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))), in the
    orders exporters write them, become nn.gelu (approximate "none" / "tanh")."""
    from ..ir.rewriter import Rewriter

    rw = Rewriter(func)
    for t in list(func.ops):
        x, approx = None, None
        if t.name == "nn.erf":
            d = t.operands[0].owner
            if d is None or d.name not in ("nn.div", "nn.mul") or not _only_use(d.result):
                continue
            x, c = d.operands
            if not (_near(_const_scalar(c), math.sqrt(2)) if d.name == "nn.div" else _near(_const_scalar(c), 0.5 ** 0.5)):
                continue
            approx = "none"
        elif t.name == "nn.tanh":
            inner = t.operands[0].owner  # sqrt(2/pi) * (x + 0.044715 * x^3)
            if inner is None or inner.name != "nn.mul" or not _only_use(inner.results[0]):
                continue
            k = next((v for v in inner.operands if _near(_const_scalar(v), math.sqrt(2 / math.pi))), None)
            s = _other(inner, k) if k is not None else None
            if s is None or s.owner is None or s.owner.name != "nn.add" or not _only_use(s):
                continue
            for xx, cterm in (s.owner.operands, s.owner.operands[::-1]):
                co = cterm.owner
                if co is None or co.name != "nn.mul" or not _only_use(cterm):
                    continue
                cc = next((v for v in co.operands if _near(_const_scalar(v), 0.044715)), None)
                if cc is not None and _cube_of(_other(co, cc)) is xx:
                    x, approx = xx, "tanh"
                    break
            if x is None:
                continue
        else:
            continue
        add = _plus_one(t)
        final = _gelu_tail(add, x) if add is not None else None
        if final is not None and final.result.type == x.type:
            rw.rebuild(final, operands=[x], attrs={"approximate": approx} if approx == "tanh" else {},
                       name="nn.gelu")
    rw.commit()


def _fuse_linear(func, store):
    """matmul(x, W) + b with W a private [in, out] initializer and b a 1-D one (how exporters write nn.Linear
    on inputs of rank 3 and more) becomes nn.linear with W stored transposed, [out, in] as PyTorch keeps it;
    the new key is the bias key with .weight for .bias when that is free (`mlp.0.bias` -> `mlp.0.weight`)."""
    from ..ir.rewriter import Rewriter

    rw = Rewriter(func)
    for mm in list(func.ops):
        if mm.name != "nn.matmul" or not _only_use(mm.result):
            continue
        x, w = mm.operands
        wop = w.owner
        pre = None  # matmul(x, transpose(P)): P is already [out, in] (irc's own ONNX files write linear so)
        if wop is not None and wop.name == "nn.transpose" and wop.attrs["perm"] == [1, 0] and _only_use(w) \
                and wop.operands[0].owner is not None and wop.operands[0].owner.name == "nn.param":
            pre = wop.operands[0]
        elif wop is None or wop.name != "nn.param" or not _only_use(w):
            continue
        if w.type.rank != 2 or x.type.rank < 2:
            continue
        add = mm.result.uses[0]
        if add.name != "nn.add":
            continue
        b = _other(add, mm.result)
        bop = b.owner if b is not None else None
        if bop is None or bop.name != "nn.param" or b.type.shape != (w.type.shape[1],) \
                or add.result.type != mm.result.type:
            continue
        if pre is None:
            bkey = bop.attrs["key"]
            cand = bkey[: -len(".bias")] + ".weight" if bkey.endswith(".bias") else wop.attrs["key"] + "_t"
            key = store.fresh_key(cand)
            store.add(key, np.ascontiguousarray(store.numpy(wop.attrs["key"]).T), w.type.dtype)
            wt = rw.create("nn.param", [], {"key": key}, [w.type.with_shape(w.type.shape[::-1])], [key])
            rw.insert_before(mm, wt)
            pre = wt.result
        lin = rw.rebuild(add, operands=[x, pre, b], attrs={}, name="nn.linear")
        rw.erase_op(mm)
        if "__" not in mm.result.name:  # the matmul's (the module's) name, unless it is irc's own helper name
            rw.adopt_names(lin, mm)
    rw.commit()


def _drop_dead(func):
    """Ops whose results nothing uses (left behind by patterns folded into one op) are removed."""
    changed = True
    while changed:
        changed = False
        keep = []
        for op in reversed(func.ops):
            if op.results and not any(r.uses for r in op.results):
                op.drop_operands()
                changed = True
            else:
                keep.append(op)
        func.ops = keep[::-1]
    func.rebuild_names()


_POISON = object()
_POISON_T = object()

NO_FOLD = {"Constant", "Identity", "Dropout", "RandomNormal", "RandomUniform", "RandomNormalLike",
           "RandomUniformLike", "Multinomial", "Bernoulli"}
HANDLERS: dict = {}
SHAPE_OPS: dict = {}


def handles(*names, table=None):
    def deco(fn):
        for n in names:
            (HANDLERS if table is None else table)[n] = fn
        return fn
    return deco


# ----------------------------------------------------------------------------- shape vectors


def _sym_array(L, x):
    if isinstance(x, Shp):
        return x.array
    if isinstance(x, Const):
        return np.asarray(x.array).astype(object)
    raise Unsupported("shape arithmetic on a value computed at run time")


@handles("Shape")
def _shape(L, node):
    x = L.inp(0)
    if isinstance(x, (Const, Shp)):
        arr = np.asarray(x.array.shape, dtype=np.int64)
        return Const(arr)
    dims = L.dims.get(node.input[0]) or [None] * x.type.rank
    out = []
    for i, d in enumerate(x.type.shape):
        if d is not None:
            out.append(d)
        else:
            p = dims[i] if i < len(dims) and isinstance(dims[i], str) else None
            out.append(Sym(x, i, p))
    start, end = L.attr("start", 0), L.attr("end", None)
    out = out[start:end] if end is not None else out[start:]
    return _shp_or_const(np.asarray(out + [0], dtype=object)[:-1])


@handles("Size")
def _size(L, node):
    x = L.val(0)
    if not x.type.is_static:
        raise Unsupported("Size of a tensor with dynamic dims")
    return Const(np.asarray(x.type.numel(), dtype=np.int64))


@handles("Gather", table=SHAPE_OPS)
def _shape_gather(L, node, ins):
    data = _sym_array(L, ins[0])
    idx = L.const(1, "indices")
    return _shp_or_const(np.take(data, idx.astype(np.int64), axis=L.attr("axis", 0)))


@handles("Slice", table=SHAPE_OPS)
def _shape_slice(L, node, ins):
    data = _sym_array(L, ins[0])
    if data.ndim != 1:
        raise Unsupported("slicing a multi-dimensional shape tensor")
    starts, ends = L.ints(1), L.ints(2)
    steps = L.ints(4) or [1]
    return _shp_or_const(data[starts[0]:ends[0]:steps[0]])


@handles("Concat", table=SHAPE_OPS)
def _shape_concat(L, node, ins):
    return _shp_or_const(np.concatenate([_sym_array(L, x) for x in ins], axis=L.attr("axis", 0)))


@handles("Unsqueeze", table=SHAPE_OPS)
def _shape_unsqueeze(L, node, ins):
    data = _sym_array(L, ins[0])
    axes = L.ints(1) if len(ins) > 1 and ins[1] is not None else L.attr("axes")
    out = data
    for a in sorted(a % (data.ndim + len(axes)) for a in axes):
        out = np.expand_dims(out, a)
    return _shp_or_const(out)


@handles("Squeeze", table=SHAPE_OPS)
def _shape_squeeze(L, node, ins):
    data = _sym_array(L, ins[0])
    axes = L.ints(1) if len(ins) > 1 and ins[1] is not None else L.attr("axes")
    return _shp_or_const(np.squeeze(data, axis=tuple(axes)) if axes else np.squeeze(data))


@handles("Reshape", table=SHAPE_OPS)
def _shape_reshape(L, node, ins):
    if isinstance(ins[1], Shp):
        raise Unsupported("reshaping a shape tensor to a dynamic shape")
    return _shp_or_const(_sym_array(L, ins[0]).reshape([int(d) for d in ins[1].array]))


@handles("Cast", "Identity", table=SHAPE_OPS)
def _shape_identity(L, node, ins):
    return ins[0]


def _shape_arith(fn):
    def h(L, node, ins):
        a, b = _sym_array(L, ins[0]), _sym_array(L, ins[1])
        return _shp_or_const(np.vectorize(fn, otypes=[object])(a, b))
    return h


def _sym_equal(a, b):
    if not isinstance(a, Sym) and not isinstance(b, Sym):
        return a == b
    if isinstance(a, Sym) and isinstance(b, Sym):
        if a.same(b):
            return True
        return Opaque()
    n = b if isinstance(a, Sym) else a
    if n < 0:  # a dimension is never negative: the exporters' "== -1" tests are false
        return False
    return Opaque()


@handles("Equal", table=SHAPE_OPS)
def _shape_equal(L, node, ins):
    out = np.vectorize(_sym_equal, otypes=[object])(_sym_array(L, ins[0]), _sym_array(L, ins[1]))
    if any(isinstance(v, Sym) for v in out.ravel()):
        raise Unsupported("comparing dynamic dimensions whose values are known only at run time")
    return Const(out.astype(bool))


@handles("Where", table=SHAPE_OPS)
def _shape_where(L, node, ins):
    if not isinstance(ins[0], Const):
        raise Unsupported("Where on a shape with a condition known only at run time")
    cond = ins[0].array.astype(bool)
    a, b = _sym_array(L, ins[1]), _sym_array(L, ins[2])
    return _shp_or_const(np.where(cond, a, b))


for _k, _f in {"Add": lambda a, b: a + b, "Sub": lambda a, b: a - b, "Mul": lambda a, b: a * b,
               "Div": lambda a, b: a // b if not isinstance(a, Sym) and not isinstance(b, Sym) else Opaque()}.items():
    SHAPE_OPS[_k] = _shape_arith(_f)


# ----------------------------------------------------------------------------- affine index tensors


class Affine:
    """An int tensor known as offset + sum_j coefs[j] * i_j over its indices, with some dynamic sizes: the
    index arithmetic the default exporter writes for as_strided on a dynamic batch (Range(0, N) * 32 + ...)."""

    __slots__ = ("coefs", "offset", "shape")

    def __init__(self, shape, offset, coefs):
        self.shape, self.offset, self.coefs = list(shape), int(offset), [int(c) for c in coefs]


AFFINE_OPS: dict = {}


def _as_affine(x) -> Affine:
    """An Affine for an Affine or a constant int array that is one (else Unsupported)."""
    if isinstance(x, Affine):
        return x
    if not isinstance(x, Const) or x.array.dtype.kind not in "iu":
        raise Unsupported("index arithmetic mixing a dynamic range with run-time values")
    a = x.array.astype(np.int64)
    origin = (0,) * a.ndim
    off = int(a[origin]) if a.ndim else int(a)
    coefs = []
    for j in range(a.ndim):
        step = (0,) * j + (1,) + (0,) * (a.ndim - j - 1)
        coefs.append(int(a[step]) - off if a.shape[j] > 1 else 0)
    grid = np.indices(a.shape) if a.ndim else np.zeros((0,))
    expect = off + sum(c * grid[j] for j, c in enumerate(coefs)) if a.ndim else off
    if not np.array_equal(a, expect):
        raise Unsupported("index arithmetic with a constant that is not an affine index")
    return Affine(a.shape, off, coefs)


def _affine_add(p: Affine, q: Affine, sign=1) -> Affine:
    rank = max(len(p.shape), len(q.shape))
    ps = [1] * (rank - len(p.shape)) + p.shape
    qs = [1] * (rank - len(q.shape)) + q.shape
    pc = [0] * (rank - len(p.coefs)) + p.coefs
    qc = [0] * (rank - len(q.coefs)) + q.coefs
    shape = []
    for a, b in zip(ps, qs):
        if isinstance(a, int) and a == 1:
            shape.append(b)
        elif isinstance(b, int) and b == 1 or a is b or (isinstance(a, int) and a == b):
            shape.append(a)
        else:
            raise Unsupported("index arithmetic over dims that do not broadcast statically")
    return Affine(shape, p.offset + sign * q.offset, [c + sign * d for c, d in zip(pc, qc)])


@handles("Range", table=SHAPE_OPS)
def _range_dynamic(L, node, ins):
    start, limit, step = ins
    if not (isinstance(start, Const) and isinstance(step, Const)) or isinstance(limit, Const):
        raise Unsupported("Range with a dynamic start or step")
    n = limit.array.ravel()
    if n.size != 1 or int(start.array) != 0 or int(step.array) != 1:
        raise Unsupported("Range over a dynamic dimension other than Range(0, N, 1)")
    return Affine([n[0]], 0, [1])


@handles("Add", "Sub", table=AFFINE_OPS)
def _affine_addsub(L, node, ins):
    return _affine_add(_as_affine(ins[0]), _as_affine(ins[1]), -1 if node.op_type == "Sub" else 1)


@handles("Mul", table=AFFINE_OPS)
def _affine_mul(L, node, ins):
    a, k = (ins[0], ins[1]) if isinstance(ins[0], Affine) else (ins[1], ins[0])
    if not isinstance(k, Const) or k.array.size != 1 or k.array.dtype.kind not in "iu":
        raise Unsupported("index arithmetic scaled by a non-constant")
    k = int(k.array.ravel()[0])
    return Affine(a.shape, a.offset * k, [c * k for c in a.coefs])


@handles("Unsqueeze", table=AFFINE_OPS)
def _affine_unsqueeze(L, node, ins):
    a = ins[0]
    axes = L.ints(1, "axes") if len(ins) > 1 and ins[1] is not None else L.attr("axes")
    rank = len(a.shape) + len(axes)
    shape, coefs = list(a.shape), list(a.coefs)
    for ax in sorted(x % rank for x in axes):
        shape.insert(ax, 1)
        coefs.insert(ax, 0)
    return Affine(shape, a.offset, coefs)


@handles("Cast", "Identity", table=AFFINE_OPS)
def _affine_identity(L, node, ins):
    return ins[0]


@handles("Gather", table=AFFINE_OPS)
def _affine_gather(L, node, ins):
    """Gather(Reshape(x, [-1]), idx) with idx the contiguous index of x itself: x (as_strided that is a no-op)."""
    data, idx = ins
    if not isinstance(data, Value) or not isinstance(idx, Affine) or L.attr("axis", 0) != 0:
        raise Unsupported("Gather at a dynamic range of indices")
    flat = data.owner
    if flat is None or flat.name != "nn.reshape" or flat.attrs["shape"] != [-1]:
        raise Unsupported("Gather at a dynamic range of indices of a tensor that is not a flattened view")
    x = flat.operands[0]
    xs = x.type.shape
    if len(idx.shape) != len(xs) or idx.offset != 0:
        raise Unsupported("as_strided to another shape or offset")
    dims = L.dims.get(L.onnx_names.get(id(x), ""), [])
    stride = 1
    for j in reversed(range(len(xs))):
        d, want = xs[j], idx.shape[j]
        if isinstance(want, Sym):
            mine = Sym(x, j, dims[j] if j < len(dims) and isinstance(dims[j], str) else None)
            if d is not None or not want.same(mine):
                raise Unsupported("as_strided over a dynamic dim that is not the tensor's own")
        elif want != d:
            raise Unsupported("as_strided to another shape")
        if d != 1 and idx.coefs[j] != stride:
            raise Unsupported("as_strided with non-contiguous strides")
        if j > 0:
            if d is None:
                raise Unsupported("as_strided over a tensor with a dynamic inner dim")
            stride *= d
    return x


# ----------------------------------------------------------------------------- shared helpers


def _spatial_pads(L, node, in_hw, kernel, strides, dilations):
    """[[top, bottom], [left, right]] from pads / auto_pad."""
    auto = L.attr("auto_pad", "NOTSET")
    if auto in ("NOTSET", ""):
        p = L.attr("pads", [0, 0, 0, 0])
        if len(p) != 4:
            raise Unsupported(f"pads {p} are not 2-D")
        return [[p[0], p[2]], [p[1], p[3]]]
    if auto == "VALID":
        return [[0, 0], [0, 0]]
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        out = []
        for size, k, s, d in zip(in_hw, kernel, strides, dilations):
            if size is None:
                raise Unsupported(f"auto_pad {auto} on a dynamic spatial dim needs static sizes")
            o = -(-size // s)
            total = max(0, (o - 1) * s + (k - 1) * d + 1 - size)
            small, big = total // 2, total - total // 2
            out.append([small, big] if auto == "SAME_UPPER" else [big, small])
        return out
    raise Unsupported(f"unknown auto_pad '{auto}'")


def _need4(x, what="input"):
    if x.type.rank != 4:
        raise Unsupported(f"only 2-D (rank-4) {what}s are supported, got {x.type}")


# ----------------------------------------------------------------------------- conv and pool


@handles("Conv")
def _conv(L, node):
    x, w = L.val(0), L.val(1, "weight")
    _need4(x)
    b = L.opt_val(2)
    k = list(w.type.shape[2:])
    s = L.attr("strides", [1, 1])
    d = L.attr("dilations", [1, 1])
    pads = _spatial_pads(L, node, x.type.shape[2:], k, s, d)
    ops = [x, w] + ([b] if b is not None else [])
    return L.emit("conv2d", ops, {"stride": s, "padding": pads, "dilation": d, "groups": L.attr("group", 1)})


@handles("ConvTranspose")
def _conv_t(L, node):
    x, w = L.val(0), L.val(1, "weight")
    _need4(x)
    b = L.opt_val(2)
    k = list(w.type.shape[2:])
    s = L.attr("strides", [1, 1])
    d = L.attr("dilations", [1, 1])
    op_ = list(L.attr("output_padding", [0, 0]))
    out_shape = L.attr("output_shape")
    auto = L.attr("auto_pad", "NOTSET")
    if out_shape is None and auto in ("SAME_UPPER", "SAME_LOWER"):
        if None in x.type.shape[2:]:
            raise Unsupported("auto_pad SAME on dynamic spatial dims")
        out_shape = [h * st for h, st in zip(x.type.shape[2:], s)]
    if out_shape is not None:
        out_shape = list(out_shape)[-2:]
        pads = []
        for i in range(2):
            size = x.type.shape[2 + i]
            if size is None:
                raise Unsupported("output_shape on dynamic spatial dims")
            total = s[i] * (size - 1) + op_[i] + (k[i] - 1) * d[i] + 1 - out_shape[i]
            if total < 0:
                op_[i] += -total
                total = 0
            small, big = total // 2, total - total // 2
            pads.append([small, big] if auto == "SAME_UPPER" else [big, small])
    else:
        p = L.attr("pads", [0, 0, 0, 0])
        pads = [[p[0], p[2]], [p[1], p[3]]]
    ops = [x, w] + ([b] if b is not None else [])
    return L.emit("conv_transpose2d", ops, {"stride": s, "padding": pads, "dilation": d,
                                            "groups": L.attr("group", 1), "output_padding": op_})


def _pool_common(L, node):
    x = L.val(0)
    _need4(x)
    k = L.attr("kernel_shape")
    s = L.attr("strides", [1, 1])
    d = L.attr("dilations", [1, 1])
    pads = _spatial_pads(L, node, x.type.shape[2:], k, s, d)
    return x, k, s, d, pads


@handles("MaxPool")
def _max_pool(L, node):
    x, k, s, d, pads = _pool_common(L, node)
    if L.attr("storage_order", 0) and len(node.output) > 1:
        raise Unsupported("storage_order")
    return [L.emit("max_pool2d", [x], {"kernel_size": k, "stride": s, "padding": pads, "dilation": d,
                                      "ceil_mode": bool(L.attr("ceil_mode", 0))}), None]


@handles("AveragePool")
def _avg_pool(L, node):
    x, k, s, d, pads = _pool_common(L, node)
    if any(v != 1 for v in d):
        raise Unsupported(f"AveragePool with dilations {d}")
    return L.emit("avg_pool2d", [x], {"kernel_size": k, "stride": s, "padding": pads,
                                      "ceil_mode": bool(L.attr("ceil_mode", 0)),
                                      "count_include_pad": bool(L.attr("count_include_pad", 0))})


@handles("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(L, node):
    x = L.val(0)
    if x.type.rank == 4:
        kind = "adaptive_avg_pool2d" if node.op_type == "GlobalAveragePool" else "adaptive_max_pool2d"
        return L.emit(kind, [x], {"output_size": [1, 1]})
    kind = "mean" if node.op_type == "GlobalAveragePool" else "reduce_max"
    return L.emit(kind, [x], {"axes": list(range(2, x.type.rank)), "keepdims": True})


# ----------------------------------------------------------------------------- normalisation


@handles("BatchNormalization")
def _bn(L, node):
    if L.attr("training_mode", 0):
        raise Unsupported("training_mode=1")
    ops = [L.val(i) for i in range(5)]
    return [L.emit("batch_norm", ops, {"epsilon": L.attr("epsilon", 1e-5)})] + [None] * (len(node.output) - 1)


@handles("InstanceNormalization")
def _instance_norm(L, node):
    x, sc, b = L.val(0), L.val(1), L.val(2)
    c = x.type.shape[1]
    if c is None:
        raise Unsupported("InstanceNormalization needs a static channel count")
    return L.emit("group_norm", [x, sc, b], {"num_groups": c, "epsilon": L.attr("epsilon", 1e-5)})


@handles("GroupNormalization")
def _group_norm_onnx(L, node):
    """Opset 21: scale and bias per channel (PyTorch's). Opset 18: per group; irc repeats constant ones per
    channel (the same numbers)."""
    x = L.val(0)
    g = L.attr("num_groups")
    c = x.type.shape[1]
    if c is None:
        raise Unsupported("GroupNormalization needs a static channel count")
    if L.attr("stash_type", 1) != 1:
        raise Unsupported("stash_type other than float32")
    scale, bias = L.inp(1), L.inp(2)
    ops = [x]
    for name, t in ((node.input[1], scale), (node.input[2], bias)):
        if isinstance(t, Const) and t.array.shape == (g,) and g != c:
            ops.append(L.as_value(Const(np.repeat(t.array, c // g), init=name + "_per_channel")))
        elif isinstance(t, (Const, Value)):
            ops.append(L.as_value(t, name))
            if ops[-1].type.shape not in ((c,),):
                raise Unsupported(f"GroupNormalization {name} of shape {list(ops[-1].type.shape)}")
        else:
            raise Unsupported("GroupNormalization scale/bias computed from shapes")
    return L.emit("group_norm", ops, {"num_groups": g, "epsilon": L.attr("epsilon", 1e-5)})


@handles("LayerNormalization")
def _layer_norm(L, node):
    x = L.val(0)
    ops = [x] + [v for v in (L.opt_val(1), L.opt_val(2)) if v is not None]
    if L.inp(1) is None and L.inp(2) is not None:
        raise Unsupported("a bias without a scale")
    axis = L.attr("axis", -1) % x.type.rank
    return [L.emit("layer_norm", ops, {"axes": list(range(axis, x.type.rank)), "epsilon": L.attr("epsilon", 1e-5)}),
            None, None]


def _softmax_like(kind):
    def h(L, node):
        x = L.val(0)
        rank = x.type.rank
        if L.opset >= 13:
            return L.emit(kind, [x], {"axis": L.attr("axis", -1)})
        axis = L.attr("axis", 1) % rank
        if axis == rank - 1:
            return L.emit(kind, [x], {"axis": -1})
        flat = L.emit("flatten", [x], {"start_axis": axis, "end_axis": -1})
        y = L.emit(kind, [flat], {"axis": -1})
        shape = [0] * axis + list(x.type.shape[axis:])
        if None in shape:
            raise Unsupported(f"opset-{L.opset} {node.op_type} over dynamic dims")
        return L.emit("reshape", [y], {"shape": shape})
    return h


HANDLERS["Softmax"] = _softmax_like("softmax")
HANDLERS["LogSoftmax"] = _softmax_like("log_softmax")


# ----------------------------------------------------------------------------- linalg


@handles("Gemm")
def _gemm(L, node):
    a, b = L.val(0), L.inp(1)
    alpha, beta = L.attr("alpha", 1.0), L.attr("beta", 1.0)
    ta, tb = L.attr("transA", 0), L.attr("transB", 0)
    if ta:
        a = L.emit("transpose", [a], {"perm": [1, 0]}, name=L.base_name(node) + "_a_t")
    # nn.linear wants the weight as [out, in]: B itself when transB=1, else B^T
    if tb:
        w = L.as_value(b, node.input[1])
    elif isinstance(b, Const) and b.init is not None:
        w = L.as_value(Const(np.ascontiguousarray(b.array.T)), node.input[1] + ".T")
    else:
        w = L.emit("transpose", [L.as_value(b, node.input[1])], {"perm": [1, 0]},
                   name=L.base_name(node) + "_b_t")
    c = L.inp(2)
    n_out = w.type.shape[0]
    bias = None
    if c is not None and beta == 1.0 and alpha == 1.0:
        shape = c.array.shape if isinstance(c, Const) else L.as_value(c).type.shape
        if tuple(shape) == (n_out,):
            bias = L.val(2)
    y = L.emit("linear", [a, w] + ([bias] if bias is not None else []), name=L.base_name(node)
               if (c is None or bias is not None) and alpha == 1.0 else L.base_name(node) + "_mm")
    if alpha != 1.0:
        s = L.as_value(Const(np.asarray(alpha, dtype=NP_OF[a.type.dtype])), "alpha")
        last = c is None or bias is not None
        y = L.emit("mul", [y, s], name=L.base_name(node) if last else L.base_name(node) + "_scaled")
    if c is not None and bias is None:
        cv = L.val(2)
        if beta != 1.0:
            s = L.as_value(Const(np.asarray(beta, dtype=NP_OF[a.type.dtype])), "beta")
            cv = L.emit("mul", [cv, s], name=L.base_name(node) + "_c")
        y = L.emit("add", [y, cv])
    return y


@handles("MatMul")
def _matmul(L, node):
    return L.emit("matmul", [L.val(0), L.val(1)])


# ----------------------------------------------------------------------------- element-wise

UNARY = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Exp": "exp", "Log": "log", "Sqrt": "sqrt",
         "Neg": "neg", "Abs": "abs", "Erf": "erf", "HardSwish": "hardswish"}
def _unary(kind):
    return lambda L, node: L.emit(kind, [L.val(0)])


for _k, _v in UNARY.items():
    HANDLERS[_k] = _unary(_v)

BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Pow": "pow", "Max": "maximum", "Min": "minimum",
          "Sum": "add"}


def _binary(kind):
    def h(L, node):
        vals = [L.val(i) for i in range(len(node.input)) if node.input[i]]
        if node.op_type == "Pow" and vals[1].type.dtype != vals[0].type.dtype:
            vals[1] = L.emit("cast", [vals[1]], {"dtype": vals[0].type.dtype}, name=L.base_name(node) + "_exp")
        y = vals[0]
        for v in vals[1:]:
            y = L.emit(kind, [y, v])
        return y
    return h


for _k, _v in BINARY.items():
    HANDLERS[_k] = _binary(_v)


@handles("Mean")
def _mean_var(L, node):
    vals = [L.val(i) for i in range(len(node.input))]
    y = vals[0]
    for v in vals[1:]:
        y = L.emit("add", [y, v])
    n = L.as_value(Const(np.asarray(len(vals), dtype=NP_OF[y.type.dtype])), "count")
    return L.emit("div", [y, n])


@handles("Reciprocal")
def _reciprocal(L, node):
    x = L.val(0)
    if x.owner is not None and x.owner.name == "nn.sqrt" and len(x.uses) == 0:  # 1 / sqrt(v): rsqrt
        return L.emit("rsqrt", [x.owner.operands[0]])  # the sqrt, unused now, is dropped at the end
    one = L.as_value(Const(np.asarray(1, dtype=NP_OF[x.type.dtype])), "one")
    return L.emit("div", [one, x])


@handles("Identity", "Dropout")
def _identity(L, node):
    if node.op_type == "Dropout" and L.inp(2) is not None and L.const(2, "training_mode").any():
        raise Unsupported("training_mode=True")
    return [L.inp(0), None]


@handles("LeakyRelu")
def _leaky(L, node):
    return L.emit("leaky_relu", [L.val(0)], {"negative_slope": float(L.attr("alpha", 0.01))})


@handles("Elu")
def _elu(L, node):
    return L.emit("elu", [L.val(0)], {"alpha": float(L.attr("alpha", 1.0))})


@handles("HardSigmoid")
def _hardsigmoid(L, node):
    return L.emit("hardsigmoid", [L.val(0)], {"alpha": float(L.attr("alpha", 0.2)), "beta": float(L.attr("beta", 0.5))})


@handles("Softplus")
def _softplus(L, node):
    # ONNX Softplus has no threshold; PyTorch's default 20 differs from the exact formula by < 3e-9
    return L.emit("softplus", [L.val(0)])


@handles("Gelu")
def _gelu(L, node):
    return L.emit("gelu", [L.val(0)], {"approximate": L.attr("approximate", "none")})


@handles("Mish")
def _mish(L, node):
    x = L.val(0)
    sp = L.emit("softplus", [x], name=L.base_name(node) + "_softplus")
    return L.emit("mul", [x, L.emit("tanh", [sp], name=L.base_name(node) + "_tanh")])


@handles("PRelu")
def _prelu(L, node):
    x, slope = L.val(0), L.val(1)
    zero = L.as_value(Const(np.asarray(0, dtype=NP_OF[x.type.dtype])), "zero")
    pos = L.emit("relu", [x], name=L.base_name(node) + "_pos")
    neg = L.emit("minimum", [x, zero], name=L.base_name(node) + "_neg")
    return L.emit("add", [pos, L.emit("mul", [neg, slope], name=L.base_name(node) + "_scaled")])


@handles("Clip")
def _clip(L, node):
    x = L.val(0)
    if L.opset >= 11:
        lo = L.const(1, "min")
        hi = L.const(2, "max")
        lo = None if lo is None else nice_float(lo)
        hi = None if hi is None else nice_float(hi)
    else:
        lo, hi = L.attr("min"), L.attr("max")
    if lo is not None and math.isinf(lo) and lo < 0:
        lo = None
    if hi is not None and math.isinf(hi) and hi > 0:
        hi = None
    if lo is None and hi is None:
        return x
    return L.emit("clamp", [x], {"min": lo, "max": hi})


@handles("Cast")
def _cast(L, node):
    x = L.val(0)
    to = L.dt.get(L.attr("to"))
    if to is None:
        raise Unsupported(f"Cast to ONNX type {L.attr('to')}")
    if to == x.type.dtype:
        return x
    return L.emit("cast", [x], {"dtype": to})


# ----------------------------------------------------------------------------- reductions


def _reduce(kind, input_from):
    def h(L, node):
        x = L.val(0)
        if L.opset >= input_from:
            axes = L.ints(1, "axes") if L.inp(1) is not None else None
        else:
            axes = L.attr("axes")
        if not axes:
            if L.attr("noop_with_empty_axes", 0):
                return x
            axes = list(range(x.type.rank))
        return L.emit(kind, [x], {"axes": [a % x.type.rank for a in axes], "keepdims": bool(L.attr("keepdims", 1))})
    return h


HANDLERS["ReduceMean"] = _reduce("mean", 18)
HANDLERS["ReduceSum"] = _reduce("sum", 13)
HANDLERS["ReduceMax"] = _reduce("reduce_max", 18)
HANDLERS["ReduceMin"] = _reduce("reduce_min", 18)


# ----------------------------------------------------------------------------- shape ops


@handles("Concat")
def _concat(L, node):
    vals = [L.val(i) for i in range(len(node.input)) if node.input[i]]
    return L.emit("concat", vals, {"axis": L.attr("axis")})


@handles("Split")
def _split(L, node):
    x = L.val(0)
    axis = L.attr("axis", 0) % x.type.rank
    if L.opset >= 13:
        sizes = L.ints(1, "split") if L.inp(1) is not None else None
    else:
        sizes = L.attr("split")
    n = len(node.output)
    if not sizes:
        dim = x.type.shape[axis]
        if dim is None:
            raise Unsupported("an even Split of a dynamic dimension")
        parts = L.attr("num_outputs", n)
        chunk = -(-dim // parts)
        sizes = [min(chunk, dim - i * chunk) for i in range(parts)]
    names = None
    if not node.name.startswith("/") and not any(p.key == "pkg.torch.onnx.name_scopes" for p in node.metadata_props):
        names = [sanitize(o) if o else L.base_name(node) for o in node.output]
    return L.emit("split", [x], {"axis": axis, "sizes": list(sizes)}, name=names, nresults=len(sizes))


@handles("Squeeze")
def _squeeze(L, node):
    x = L.val(0)
    axes = (L.ints(1, "axes") if L.inp(1) is not None else None) if L.opset >= 13 else L.attr("axes")
    if axes is None:
        if not x.type.is_static:
            raise Unsupported("Squeeze without axes on a tensor with dynamic dims")
        axes = [i for i, d in enumerate(x.type.shape) if d == 1]
    return L.emit("squeeze", [x], {"axes": [a % x.type.rank for a in axes]})


@handles("Unsqueeze")
def _unsqueeze(L, node):
    x = L.val(0)
    axes = L.ints(1, "axes") if L.opset >= 13 else L.attr("axes")
    rank = x.type.rank + len(axes)
    return L.emit("unsqueeze", [x], {"axes": sorted(a % rank for a in axes)})


@handles("Slice")
def _slice(L, node):
    x = L.val(0)
    if L.opset >= 10:
        starts, ends = L.ints(1, "starts"), L.ints(2, "ends")
        axes = L.ints(3, "axes") if L.inp(3) is not None else list(range(len(starts)))
        steps = L.ints(4, "steps") if L.inp(4) is not None else [1] * len(starts)
    else:
        starts, ends = L.attr("starts"), L.attr("ends")
        axes = L.attr("axes", list(range(len(starts))))
        steps = [1] * len(starts)
    if any(s <= 0 for s in steps):
        raise Unsupported(f"Slice with steps {steps} (irc slices with positive steps only)")
    ends = [min(e, INT64_MAX) for e in ends]
    attrs = {"axes": [a % x.type.rank for a in axes], "starts": starts, "ends": ends}
    if any(s != 1 for s in steps):
        attrs["steps"] = steps
    return L.emit("slice", [x], attrs)


def _shape_target(L, x, arr, allowzero=False):
    """An ONNX Reshape target (ints and symbolic dims) as nn.reshape's shape (0 copies, -1 infers)."""
    dims = L.dims.get(L.node.input[0]) or []
    out = []
    for i, d in enumerate(arr):
        if isinstance(d, Sym):
            mine = None
            if i < x.type.rank and x.type.shape[i] is None:
                mine = Sym(x, i, dims[i] if i < len(dims) and isinstance(dims[i], str) else None)
            if mine is not None and d.same(mine):
                out.append(0)
            else:
                out.append(-1)
        else:
            d = int(d)
            if d == 0 and allowzero:
                raise Unsupported("Reshape with allowzero=1 to a zero-sized dimension")
            out.append(d)
    if out.count(-1) > 1:
        # a -1 that the input carries at the same index can be a copy (0) instead
        raise Unsupported(f"Reshape target {[('?' if isinstance(d, Sym) else int(d)) for d in arr]} has more "
                          "than one dimension known only at run time")
    return out


@handles("Reshape")
def _reshape(L, node):
    x = L.val(0)
    target = L.inp(1)
    if isinstance(target, Value):
        raise Unsupported("the target shape is computed at run time")
    arr = list(target.array.ravel())
    shape = _shape_target(L, x, arr, bool(L.attr("allowzero", 0)))
    return L.emit("reshape", [x], {"shape": shape})


@handles("Flatten")
def _flatten(L, node):
    x = L.val(0)
    rank = x.type.rank
    axis = L.attr("axis", 1) % (rank + 1) if rank else 0
    if axis == 0:
        y = L.emit("flatten", [x], {"start_axis": 0, "end_axis": -1}, name=L.base_name(node) + "_all")
        return L.emit("unsqueeze", [y], {"axes": [0]})
    if axis == rank:
        y = L.emit("flatten", [x], {"start_axis": 0, "end_axis": -1}, name=L.base_name(node) + "_all")
        return L.emit("unsqueeze", [y], {"axes": [1]})
    if axis == 1:
        return L.emit("flatten", [x], {"start_axis": 1, "end_axis": -1})
    y = L.emit("flatten", [x], {"start_axis": axis, "end_axis": -1}, name=L.base_name(node) + "_tail")
    return L.emit("flatten", [y], {"start_axis": 0, "end_axis": axis - 1})


@handles("Transpose")
def _transpose(L, node):
    x = L.val(0)
    perm = L.attr("perm", list(reversed(range(x.type.rank))))
    return L.emit("transpose", [x], {"perm": list(perm)})


@handles("Pad")
def _pad(L, node):
    x = L.val(0)
    rank = x.type.rank
    mode = L.attr("mode", "constant")
    if L.opset >= 11:
        pads = L.ints(1, "pads")
        value = L.const(2, "constant_value")
        value = 0.0 if value is None or value.size == 0 else nice_float(value.ravel()[0])
        axes = L.ints(3, "axes") if L.inp(3) is not None else list(range(rank))
    else:
        pads, value, axes = L.attr("pads"), float(L.attr("value", 0.0)), list(range(rank))
    n = len(axes)
    full = [[0, 0] for _ in range(rank)]
    for j, a in enumerate(axes):
        full[a % rank] = [pads[j], pads[j + n]]
    irmode = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}.get(mode)
    if irmode is None:
        raise Unsupported(f"Pad mode '{mode}'")
    attrs = {"pads": full, "mode": irmode}
    if irmode == "constant":
        attrs["value"] = value
    return L.emit("pad", [x], attrs)


@handles("Expand")
def _expand(L, node):
    x = L.val(0)
    target = L.inp(1)
    if isinstance(target, Value):
        raise Unsupported("the target shape is computed at run time")
    arr = list(target.array.ravel())
    rank = max(len(arr), x.type.rank)
    arr = [1] * (rank - len(arr)) + arr
    lead = rank - x.type.rank
    shape, like = [], []
    like_src = None
    dims = L.dims.get(node.input[0]) or []
    for i, t in enumerate(arr):
        xd = x.type.shape[i - lead] if i >= lead else 1
        if isinstance(t, Sym):
            mine = Sym(x, i - lead, dims[i - lead] if 0 <= i - lead < len(dims) and isinstance(dims[i - lead], str)
                       else None) if i >= lead and xd is None else None
            if mine is not None and t.same(mine):
                shape.append(-1)
            elif isinstance(t, Opaque) or t.value is None:
                raise Unsupported("Expand to a computed dynamic size")
            else:
                if like_src is not None and like_src is not t.value:
                    raise Unsupported("Expand to dynamic sizes of several tensors")
                like_src = t.value
                shape.append(-1 if i >= lead else 1)
                like.append([i, t.dim])
        else:
            t = int(t)
            shape.append(-1 if (t == 1 and i >= lead) else t)
    if like:
        return L.emit("expand_like", [x, like_src], {"shape": shape, "like_dims": like})
    if all(s == -1 for s in shape) and lead == 0:
        return x
    return L.emit("expand", [x], {"shape": shape})


@handles("Gather")
def _gather(L, node):
    x = L.val(0)
    idx = L.inp(1)
    if isinstance(idx, Const):
        arr = idx.array.astype(np.int64)
        n = x.type.shape[L.attr("axis", 0) % x.type.rank]
        if n is not None:
            arr = np.where(arr < 0, arr + n, arr)
        iv = L.as_value(Const(arr), node.input[1])
    else:
        iv = L.val(1)
    return L.emit("gather", [x, iv], {"axis": L.attr("axis", 0)})


@handles("GatherND")
def _gather_nd(L, node):
    """GatherND with constant indices over static leading dims: a reshape that merges those dims, then a
    Gather along the merged axis at the flattened indices."""
    x = L.val(0)
    if L.attr("batch_dims", 0):
        raise Unsupported("GatherND with batch_dims")
    idx = L.const(1, "indices").astype(np.int64)
    k = idx.shape[-1]
    lead = x.type.shape[:k]
    if None in lead:
        raise Unsupported("GatherND over dynamic dimensions")
    idx = np.where(idx < 0, idx + np.asarray(lead), idx)
    flat = np.zeros(idx.shape[:-1], dtype=np.int64)
    for j in range(k):
        flat = flat * lead[j] + idx[..., j]
    rest = list(x.type.shape[k:])
    if rest.count(None) > 1:
        raise Unsupported("GatherND on a tensor with several dynamic trailing dims")
    merged = x if k == 1 else L.emit("reshape", [x], {"shape": [int(np.prod(lead))] + [-1 if d is None else d
                                                                                      for d in rest]},
                                      name=L.base_name(node) + "_flat")
    iv = L.as_value(Const(flat), node.input[1])
    return L.emit("gather", [merged, iv], {"axis": 0})


@handles("Greater", "Less")
def _compare(L, node):
    for i in (0, 1):
        L.inp(i)  # poisoned inputs propagate
    return Deferred(node)


def _scalar_const(L, name):
    x = L.env.get(name)
    if isinstance(x, Const) and x.array.size == 1:
        return float(x.array.ravel()[0])
    return None


@handles("Where")
def _where(L, node):
    cond = L.inp(0)
    if isinstance(cond, Deferred) and cond.node.op_type == "Greater":
        # PyTorch's softplus(x, beta, threshold): Where(beta*x > threshold, x, Softplus(beta*x) / beta)
        bx, thr = cond.node.input[0], _scalar_const(L, cond.node.input[1])
        x_name, sp_name = node.input[1], node.input[2]
        beta = 1.0 if bx == x_name else None
        pb = L.producer.get(bx)
        if beta is None and pb is not None and pb.op_type == "Mul" and x_name in pb.input:
            beta = _scalar_const(L, pb.input[1 - list(pb.input).index(x_name)])
        sp = L.producer.get(sp_name)
        if sp is not None and sp.op_type == "Div" and _scalar_const(L, sp.input[1]) == beta:
            sp = L.producer.get(sp.input[0])
        if thr is not None and beta is not None and sp is not None and sp.op_type == "Softplus" and sp.input[0] == bx:
            return L.emit("softplus", [L.val(1)], {"beta": nice_float(beta), "threshold": nice_float(thr)})
    if isinstance(cond, (Value, Const)) and _scalar_const(L, node.input[2]) == -math.inf \
            and (cond.type.dtype if isinstance(cond, Value) else _ir_dtype(cond.array)) == "i1":
        # an attention mask: where(m, s, -inf) == s + log(m) (log 1 = 0, log 0 = -inf)
        s = L.val(1)
        m = L.emit("cast", [L.val(0)], {"dtype": s.type.dtype}, name=L.base_name(node) + "_mask")
        return L.emit("add", [s, L.emit("log", [m], name=L.base_name(node) + "_log")])
    raise Unsupported("Where with a run-time condition (irc has no select op; only PyTorch's softplus threshold "
                      "and -inf attention masks are recognised)")


# ----------------------------------------------------------------------------- recurrent

# ONNX gate blocks -> PyTorch's: LSTM i,o,f,c -> i,f,g,o; GRU z,r,h -> r,z,n
_TORCH_GATES = {"LSTM": [0, 2, 3, 1], "GRU": [1, 0, 2], "RNN": [0]}
_DEFAULT_ACTS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}


@handles("LSTM", "GRU", "RNN")
def _recurrent(L, node):
    """One ONNX recurrent node (one layer, forward or bidirectional) as nn.lstm/gru/rnn with num_layers=1,
    weights re-split per direction into PyTorch's gate order; Y is brought to ONNX's [seq, dirs, batch, H]."""
    kind = node.op_type.lower()
    if "nn." + kind not in OPS:
        raise Unsupported(f"this irc has no nn.{kind} op")
    x = L.val(0)
    direction = L.attr("direction", "forward")
    if direction not in ("forward", "bidirectional"):
        raise Unsupported(f"direction '{direction}'")
    dirs = 2 if direction == "bidirectional" else 1
    hidden = L.attr("hidden_size")
    acts = L.attr("activations")
    nonlin = "tanh"
    if node.op_type == "RNN":
        acts = acts or ["Tanh"] * dirs
        if len(set(acts)) != 1 or acts[0] not in ("Tanh", "Relu"):
            raise Unsupported(f"RNN activations {acts}")
        nonlin = acts[0].lower()
    elif acts is not None and list(acts) != _DEFAULT_ACTS[node.op_type] * dirs:
        raise Unsupported(f"{node.op_type} activations {acts}")
    if L.attr("clip") is not None or L.attr("input_forget", 0):
        raise Unsupported("clip / input_forget")
    if node.op_type == "GRU" and not L.attr("linear_before_reset", 0):
        raise Unsupported("GRU with linear_before_reset=0 (PyTorch's GRU resets after the hidden matmul)")
    if L.inp(4) is not None or (node.op_type == "LSTM" and L.inp(7) is not None):
        raise Unsupported("sequence_lens or peephole weights")
    w, r = L.const(1, "W"), L.const(2, "R")
    b = L.const(3, "B")
    order = _TORCH_GATES[node.op_type]
    g = len(order)

    def torch_gates(arr):
        blocks = np.split(arr, g, axis=0)
        return np.ascontiguousarray(np.concatenate([blocks[i] for i in order], axis=0))

    base = _rnn.module_base(L, node)
    layer = _rnn.layer_index(L, base)
    operands = []
    for d in range(dirs):
        suffix = "_reverse" if d else ""
        parts = [("weight_ih", torch_gates(w[d])), ("weight_hh", torch_gates(r[d]))]
        if b is not None:
            parts += [("bias_ih", torch_gates(b[d][:g * hidden])), ("bias_hh", torch_gates(b[d][g * hidden:]))]
        for nm, arr in parts:
            operands.append(L.new_param(f"{base}.{nm}_l{layer}{suffix}", arr))
    states = [L.inp(5)] + ([L.inp(6)] if node.op_type == "LSTM" else [])
    batch_first = bool(L.attr("layout", 0))
    if any(st is not None and not _rnn.zero_state(st, L.store) for st in states):  # zeros, PyTorch's default, are left out
        if node.op_type == "LSTM" and None in states:
            raise Unsupported("LSTM with only one of initial_h / initial_c")
        sts = [L.val(5)] + ([L.val(6)] if node.op_type == "LSTM" else [])
        operands += [L.emit("transpose", [st], {"perm": [1, 0, 2]}) for st in sts] if batch_first else sts
    attrs = {"hidden_size": hidden, "bidirectional": dirs == 2, "batch_first": batch_first, "bias": b is not None}
    if node.op_type == "RNN":
        attrs["nonlinearity"] = nonlin
    res = L.emit(kind, [x] + operands, attrs, name=base + "_seq", nresults=True)
    y = L.emit("reshape", [res[0]], {"shape": [0, 0, dirs, hidden]}, name=base + "_y")
    if not batch_first:  # ONNX: [seq, dirs, batch, hidden]
        y = L.emit("transpose", [y], {"perm": [0, 2, 1, 3]})
        return [y] + list(res[1:])
    return [y] + [L.emit("transpose", [st], {"perm": [1, 0, 2]}) for st in res[1:]]  # layout 1: [batch, dirs, H]


# ----------------------------------------------------------------------------- resize


def _resize_common(L, node, x, scales, sizes, mode, coord, nearest_mode):
    _need4(x)
    if mode == "nearest":
        if coord not in ("asymmetric",) or nearest_mode not in ("floor",):
            raise Unsupported(f"Resize nearest with coordinate_transformation_mode '{coord}' and nearest_mode "
                              f"'{nearest_mode}' (irc's nearest is PyTorch's: asymmetric + floor)")
        attrs = {"mode": "nearest"}
    elif mode in ("linear", "bilinear"):
        if coord == "align_corners":
            attrs = {"mode": "bilinear", "align_corners": True}
        elif coord in ("pytorch_half_pixel", "half_pixel"):
            attrs = {"mode": "bilinear"}
        else:
            raise Unsupported(f"Resize linear with coordinate_transformation_mode '{coord}'")
    else:
        raise Unsupported(f"Resize mode '{mode}'")
    if scales is not None and len(scales) > 0:
        scales = [nice_float(s) for s in scales]
        if len(scales) != 4 or scales[0] != 1.0 or scales[1] != 1.0:
            raise Unsupported(f"Resize scales {scales} (only H and W may scale)")
        attrs["scales"] = scales[2:]
        out_hw = [None if d is None else math.floor(d * s) for d, s in zip(x.type.shape[2:], scales[2:])]
    elif sizes is not None:
        sizes = [int(s) for s in sizes]
        if len(sizes) == 4:
            if any(d is not None and d != s for d, s in zip(x.type.shape[:2], sizes[:2])):
                raise Unsupported(f"Resize sizes {sizes} change N or C")
            sizes = sizes[2:]
        attrs["size"] = sizes
        out_hw = sizes
    else:
        raise Unsupported("Resize with neither scales nor sizes")
    if coord == "pytorch_half_pixel" and mode != "nearest" and any(o is None or o == 1 for o in out_hw):
        raise Unsupported("Resize pytorch_half_pixel with an output dimension of 1 (PyTorch itself samples "
                          "half_pixel there)")
    return L.emit("upsample", [x], attrs)


@handles("Resize")
def _resize(L, node):
    x = L.val(0)
    if L.attr("antialias", 0):
        raise Unsupported("Resize with antialias=1")
    if L.attr("keep_aspect_ratio_policy", "stretch") != "stretch":
        raise Unsupported("keep_aspect_ratio_policy other than stretch")
    axes = L.attr("axes")
    scales = sizes = None
    if L.opset >= 11:
        sc = L.const(2, "scales") if len(node.input) > 2 and node.input[2] else None
        if sc is not None and sc.size:
            scales = list(sc.ravel())
        sz_in = L.inp(3) if len(node.input) > 3 and node.input[3] else None
        if isinstance(sz_in, Shp):
            arr = sz_in.array.ravel()
            if any(isinstance(v, Sym) for v in arr[-2:]):
                raise Unsupported("Resize to dynamic sizes")
            sizes = [int(v) if not isinstance(v, Sym) else None for v in arr]
            sizes = sizes[-2:] if len(sizes) == 4 else sizes
        elif sz_in is not None:
            sizes = L.ints(3, "sizes")
    else:
        scales = list(L.const(1, "scales").ravel())
    if axes is not None:
        axes = [a % 4 for a in axes]
        if sorted(axes) != [2, 3] and not (scales and len(scales) == 4):
            raise Unsupported(f"Resize over axes {axes}")
        if scales is not None and len(scales) == 2:
            scales = [1.0, 1.0] + scales
        if sizes is not None and len(sizes) == 2:
            pass
    coord = L.attr("coordinate_transformation_mode", "half_pixel" if L.opset >= 11 else "asymmetric")
    mode = L.attr("mode", "nearest")
    nearest_mode = L.attr("nearest_mode", "round_prefer_floor" if L.opset >= 11 else "floor")
    if L.opset < 11:
        coord, nearest_mode = "asymmetric", "floor"
    return _resize_common(L, node, x, scales, sizes, mode, coord, nearest_mode)


@handles("Upsample")
def _upsample(L, node):
    x = L.val(0)
    scales = L.attr("scales") if L.inp(1) is None else list(L.const(1, "scales").ravel())
    mode = L.attr("mode", "nearest")
    return _resize_common(L, node, x, scales, None, mode, "asymmetric", "floor")


from . import onnx_recurrent as _rnn  # recurrent helpers (read at call time); registers ConstantOfShape

__all__ = ["HANDLERS", "import_onnx", "is_onnx_file", "load_onnx"]
