"""PyTorch → irc IR, through torch.export.

`torch.export.export(copy.deepcopy(model), args, strict=False)` gives a functional ATen graph;
`run_decompositions({})` keeps whole the ops irc knows (conv2d, linear, batch norm, hardswish,
pooling, cat, ...). Each ATen op is then raised to `nn` ops by one table (`LOWERINGS`, aten op →
function). Ops irc does not know are decomposed to core ATen where torch has a decomposition;
whatever is left is reported, all at once, as one error.

Names follow module paths (`nn_module_stack`), `nn.param` keys are the graph signature's
state_dict keys, and locations come from each node's `stack_trace` (the innermost frame outside
torch). Result types come from the fake tensors export records (`val`); the verifier then checks
them against the registry's inference.

Subgraphs that read no input and no parameter (attention masks built from static shapes, for
instance) are computed here, once, and enter the IR as constants.
"""

from __future__ import annotations

import contextlib
import copy
import linecache
import logging
import operator
import os
import re
import warnings
from collections import OrderedDict

import torch

from ..ir import DenseAttr, FileLoc, Func, IrcError, Module, Op, TensorType, Value, WeightStore, verify
from ..ir.core import DENSE_MAX, INT64_MAX, sanitize_name as sanitize  # noqa: F401 (re-exported)
from ..ir.ops import OPS
from ..ir.ops.registry import infer_types, normalize_attrs

aten = torch.ops.aten

TORCH_TO_IR = {torch.float16: "f16", torch.bfloat16: "bf16", torch.float32: "f32", torch.float64: "f64",
               torch.bool: "i1", torch.int8: "i8", torch.int16: "i16", torch.int32: "i32", torch.int64: "i64",
               torch.uint8: "u8"}
IR_TO_TORCH = {v: k for k, v in TORCH_TO_IR.items()}
_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__))
_RECURRENT_PY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_recurrent.py")  # irc's nn.LSTM forward


class Unsupported(Exception):
    """This node cannot be lowered; the message says why (collected and reported together)."""


# ----------------------------------------------------------------------------- public entry


def _example_inputs(input_types, n):
    g = torch.Generator().manual_seed(0)
    out = []
    for shape, dtype in input_types:
        if dtype not in IR_TO_TORCH:
            raise IrcError(f"unknown input dtype '{dtype}' (known: {' '.join(IR_TO_TORCH)})")
        tdt = IR_TO_TORCH[dtype]
        full = (n,) + tuple(int(d) for d in shape)
        if tdt.is_floating_point:
            out.append(torch.randn(full, generator=g).to(tdt))
        elif tdt == torch.bool:
            out.append(torch.zeros(full, dtype=tdt))
        else:
            out.append(torch.randint(0, 2, full, generator=g).to(tdt))
    return tuple(out)


def _short_reason(e: Exception) -> str:
    text = str(e).strip().split("\n")
    lines = [ln.strip() for ln in text if ln.strip()]
    short = re.sub(r' ?For more information, run with TORCH_LOGS="[^"]*"\.?', "", " ".join(lines[:3]))
    short = short.split(" Suggested fixes:")[0]
    return short[:400] or type(e).__name__


def _copy_module(model):
    """A deep copy of `model` that shares its parameter and buffer tensors.

    torch.export only reads them (through fake tensors), so copying them would only double the
    memory a large model needs; everything else (submodules, attributes, flags) is copied."""
    memo = {id(t): t for t in model.parameters()}
    memo.update((id(t), t) for t in model.buffers())
    return copy.deepcopy(model, memo)


def _dynamic_specs(input_types, batch_dynamic, dynamic_dims):
    """torch.export dynamic_shapes for the inputs: dim 0 when the batch is dynamic, and the per-sample
    dims listed in `dynamic_dims` (one list per input) as Dim.AUTO: export works out their ranges and
    which of them are equal from the model (a conv stack's width must be at least its total stride, say)."""
    if dynamic_dims is not None and len(dynamic_dims) != len(input_types):
        raise IrcError(f"dynamic_dims has {len(dynamic_dims)} entries for {len(input_types)} inputs: give one "
                       "list of per-sample dims per input ([] for an input without dynamic dims)")
    batch_dim = torch.export.Dim("batch", min=1) if batch_dynamic else None
    specs, any_dynamic = [], batch_dynamic
    for i, (shape, _) in enumerate(input_types):
        spec = {0: batch_dim} if batch_dynamic else {}
        for k in (dynamic_dims or [None] * len(input_types))[i] or ():
            if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < len(shape):
                raise IrcError(f"dynamic_dims of input {i}: {k!r} is not a dimension of its per-sample shape "
                               f"{tuple(shape)} (0 to {len(shape) - 1}; the batch is made dynamic by batch='dynamic')")
            if int(shape[k]) < 2:
                raise IrcError(f"dynamic_dims of input {i}: the example size of dim {k} must be at least 2 "
                               f"(torch.export specialises sizes 0 and 1), got {shape[k]}")
            spec[k + 1] = torch.export.Dim.AUTO
            any_dynamic = True
        specs.append(spec)
    return tuple(specs), any_dynamic


def _check_dynamic(ep, dynamic_dims, warn):
    """Warn about each requested dynamic dim that export made static (the model needs that one size)."""
    users = [n for n in ep.graph.nodes if n.op == "placeholder"
             and any(s.arg.name == n.name and s.kind.name == "USER_INPUT" for s in ep.graph_signature.input_specs
                     if hasattr(s.arg, "name"))]
    for i, dims in enumerate(dynamic_dims or ()):
        val = users[i].meta.get("val") if i < len(users) else None
        for k in dims or ():
            if val is not None and isinstance(val.shape[k + 1], int):
                warn(f"dimension {k} of input {i} stays static ({val.shape[k + 1]}): torch.export found the model "
                     "needs that size")


def _export_copy(model):
    try:
        root = _copy_module(model)
    except Exception as e:
        raise IrcError(f"cannot copy the model for export (irc never exports the user's own object): "
                       f"{_short_reason(e)}") from None
    root.eval()
    from .torch_recurrent import patch_recurrent

    patch_recurrent(root)  # one op per nn.LSTM/GRU/RNN whose shapes follow a dynamic sequence length
    return root


def export(model, input_types, batch, warn, dynamic_dims=None):
    """torch.export a deep copy of `model` in eval mode; returns (ExportedProgram, the copy)."""
    root = _export_copy(model)
    dynamic = batch == "dynamic"
    if not dynamic:
        try:
            batch = int(batch)
        except (TypeError, ValueError):
            raise IrcError(f"batch must be a positive integer or 'dynamic', got {batch!r}") from None
        if batch < 1:
            raise IrcError(f"batch must be a positive integer or 'dynamic', got {batch}")
    specs, any_dynamic = _dynamic_specs(input_types, dynamic, dynamic_dims)
    with torch.no_grad():
        if any_dynamic:
            what = "a dynamic batch" if not dynamic_dims or not any(dynamic_dims) else "dynamic dimensions"
            try:
                ep = torch.export.export(root, _example_inputs(input_types, 2 if dynamic else batch),
                                         dynamic_shapes=specs, strict=False)
                _check_dynamic(ep, dynamic_dims, warn)
                return ep, root
            except Exception as e:
                fallback = "batch 1" if dynamic else "static shapes"
                warn(f"export with {what} failed, importing with {fallback} instead: {_short_reason(e)}")
                root = _export_copy(model)
                batch = 1 if dynamic else batch
        try:
            ep = torch.export.export(root, _example_inputs(input_types, batch), strict=False)
        except Exception as e:
            raise IrcError(f"torch.export failed: {type(e).__name__}: {_short_reason(e)}") from None
    return ep, root


def script_to_module(model, input_types, batch=1):
    """A TorchScript module → an equivalent fx GraphModule, through torch's TorchScript converter."""
    try:
        from torch._export.converter import TS2EPConverter
    except ImportError:
        raise IrcError("this torch has no TorchScript converter; torch.export cannot export a ScriptModule. "
                       "Import the original nn.Module (or its state_dict with --arch) instead") from None
    try:
        with torch.no_grad():
            n = 2 if batch == "dynamic" else int(batch)
            return TS2EPConverter(model, _example_inputs(input_types, n)).convert().module()
    except Exception as e:
        raise IrcError(f"torch.export cannot export this TorchScript model: {type(e).__name__}: {_short_reason(e)}. "
                       "Import the original nn.Module (or its state_dict with --arch) instead") from None


@contextlib.contextmanager
def full_stack_traces():
    """Let export record every frame from the first `forward` on, not only frames named `forward`, so a
    location points at `x = self.conv1(x)` inside a helper such as ResNet's `_forward_impl` rather than
    at the call of the helper. Uses a private torch hook; without it, locations are just coarser."""
    try:
        from torch.fx.proxy import TracerBase

        orig = TracerBase.__dict__["_filter_traceback_frames"]
    except (ImportError, KeyError):
        yield
        return

    def keep_all(self, summary):
        saved = getattr(self, "_record_forward_stack_traces_only", False)
        self._record_forward_stack_traces_only = False
        try:
            return orig(self, summary)
        finally:
            self._record_forward_stack_traces_only = saved

    TracerBase._filter_traceback_frames = keep_all
    try:
        yield
    finally:
        TracerBase._filter_traceback_frames = orig


@contextlib.contextmanager
def quiet_torch():
    """Keep torch.export's own warnings and log lines off the user's terminal."""
    loggers = [logging.getLogger(n) for n in ("torch._export", "torch.export", "torch._dynamo", "torch.fx",
                                               "torch._subclasses", "torch.fx.experimental.symbolic_shapes",
                                               "torch.export.pt2_archive._package")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for lg, lv in zip(loggers, levels):
                lg.setLevel(lv)


# ----------------------------------------------------------------------------- the lowering


def _is_tensor(v) -> bool:
    return isinstance(v, torch.Tensor)


def _dim(d):
    if isinstance(d, int):
        return d
    if isinstance(d, torch.SymInt):
        try:
            return int(d.node.expr) if d.node.expr.is_number else None
        except Exception:
            return None
    return None


def tensor_type(t) -> TensorType:
    dtype = TORCH_TO_IR.get(t.dtype)
    if dtype is None:
        raise Unsupported(f"tensors of dtype {t.dtype} are not supported")
    return TensorType(tuple(_dim(d) for d in t.shape), dtype)


def _sym(d):
    """A hashable key for a symbolic dimension (its sympy expression), None for a static one."""
    if isinstance(d, torch.SymInt):
        expr = d.node.expr
        return None if expr.is_number else expr
    return None


def _frame_loc(stack_trace):
    """FileLoc of the innermost frame outside torch in a node's stack trace."""
    if not stack_trace:
        return None
    frames = re.findall(r'File "([^"]+)", line (\d+), in [^\n]*\n([^\n]*)', stack_trace)
    for path, line, code in reversed(frames):
        ap = os.path.abspath(path)
        if ap.startswith(_TORCH_DIR + os.sep) or "<" in path or ap == _RECURRENT_PY:
            continue
        src = linecache.getline(path, int(line))  # traces strip indentation; the file has it
        col = len(src) - len(src.lstrip()) + 1 if src.strip() else 1
        # a location that reads the same on every machine: the path inside its package, or the file name
        short = os.path.basename(path)
        for marker in ("site-packages" + os.sep, "dist-packages" + os.sep):
            if marker in ap:
                short = ap.split(marker, 1)[1]
                break
        return FileLoc(short, int(line), col)
    return None


def _fmt_loc(loc) -> str:
    return f"{loc.file}:{loc.line}" if loc is not None else "unknown source line"


class _Lowerer:
    def __init__(self, ep, root, name, progress=None):
        self.progress = progress or (lambda msg: None)
        self.ep = ep
        self.root = root
        self.name = name
        self.weights = WeightStore(None)
        self.env: dict = {}  # fx node -> Value | list | python value
        self.folded: dict = {}  # fx node -> real tensor / python value computed at import time
        self.param_nodes: dict = {}  # placeholder node -> (key, tensor)
        self.param_values: dict = {}  # key -> Value
        self.sym_source: dict = {}  # sympy expr -> (Value, dim)
        self.errors: list = []  # (aten op, reason, module path, loc)
        self.node = None
        self.used_keys: set = set()

    # -- module paths, names, locations

    def _module_path(self, node):
        stack = node.meta.get("nn_module_stack") or {}
        if not stack:
            return ""
        path = list(stack.values())[-1][0]
        return path if isinstance(path, str) else ""

    def _leaf(self, path, type_name="") -> bool:
        if not path:
            return False
        if self.root is None:  # an ExportedProgram from elsewhere: torch.nn's own layers are leaves
            return str(type_name).startswith("torch.nn.modules.")
        try:
            sub = self.root.get_submodule(path)
        except Exception:
            return False
        return next(iter(sub.children()), None) is None

    def base_name(self, node, kind):
        path = self._module_path(node)
        stack = node.meta.get("nn_module_stack") or {}
        type_name = list(stack.values())[-1][1] if stack else ""
        if path and self._leaf(path, type_name):
            return sanitize(path)
        return sanitize(f"{path}.{kind}" if path else kind)

    # -- emitting ops

    def emit(self, kind, operands, attrs=None, types=None, name=None, nresults=None):
        """Append nn.KIND; result types from `types` (the node's fake tensors) or the registry."""
        full = "nn." + kind
        opdef = OPS[full]
        attrs = {k: v for k, v in (attrs or {}).items() if v is not None}
        if types is None:
            try:
                norm = normalize_attrs(opdef, attrs)
                types = infer_types(opdef, [v.type for v in operands], norm)
            except Exception as e:
                raise Unsupported(f"cannot form {full}: {e}") from None
        names = [name or self.base_name(self.node, kind)] * len(types)
        op = Op(full, operands, attrs, types, names, loc=self.loc)
        self.func.append(op)
        return op.results if nresults is not None or len(op.results) != 1 else op.results[0]

    def out_type(self, i=None):
        val = self.node.meta.get("val")
        if i is not None:
            val = val[i]
        if not _is_tensor(val):
            raise Unsupported("no tensor type recorded for this node")
        return tensor_type(val)

    def _note_syms(self, value, fake):
        """Remember, for each symbolic size in `fake`, the first value that has it (for expand_like)."""
        if not _is_tensor(fake):
            return
        for i, d in enumerate(fake.shape):
            s = _sym(d)
            if s is not None and s not in self.sym_source:
                self.sym_source[s] = (value, i)

    def result(self, kind, operands, attrs=None, i=None):
        """Emit the op that computes this node's value, typed from its fake tensor."""
        v = self.emit(kind, operands, attrs, [self.out_type(i)])
        self._note_syms(v, self.node.meta.get("val") if i is None else self.node.meta["val"][i])
        return v

    def constant(self, value, dtype, shape=()):
        dense = DenseAttr(value, TensorType(tuple(shape), dtype))
        return self.emit("constant", [], {"value": dense}, name=self.base_name(self.node, "const"))

    def cast(self, v, dtype):
        if v.type.dtype == dtype:
            return v
        return self.emit("cast", [v], {"dtype": dtype})

    # -- operands

    def value(self, arg, dtype=None):
        """An IR value for an fx argument: a lowered node, a folded tensor, or a Python scalar."""
        if isinstance(arg, torch.fx.Node):
            if arg in self.folded:
                v = self.materialize(arg)
                return self.cast(v, dtype) if dtype else v
            v = self.env.get(arg)
            if isinstance(v, Value):
                return self.cast(v, dtype) if dtype else v
            if v is _POISON:
                raise _Poisoned()
            raise Unsupported(f"operand {arg.name} is not a tensor")
        if isinstance(arg, bool) and (dtype or "i1") == "i1":
            return self.constant(arg, "i1")
        if isinstance(arg, (int, float)):
            dtype = dtype or ("i64" if isinstance(arg, int) else "f32")
            return self.constant(float(arg) if dtype in ("f16", "bf16", "f32", "f64") else int(arg), dtype)
        raise Unsupported(f"operand {arg!r} is not a tensor")

    def materialize(self, node):
        key = ("folded", node)
        if key in self.env:
            return self.env[key]
        t = self.folded[node]
        if not _is_tensor(t):
            raise Unsupported(f"operand {node.name} is a Python {type(t).__name__}, not a tensor")
        t = t.detach().contiguous()
        ty = tensor_type(t)
        saved = self.node
        self.node = node
        if t.numel() <= DENSE_MAX and ty.dtype != "i1" and ty.dtype != "bf16":
            vals = t.tolist()
            v = self.emit("constant", [], {"value": DenseAttr(vals, ty)}, name=self.base_name(node, node.name))
        else:
            keyname = self._fresh_key("_folded." + self.base_name(node, node.name))
            self._store(keyname, t)
            v = self.emit("param", [], {"key": keyname}, [ty], name=keyname)
        self.node = saved
        self.env[key] = v
        return v

    def _fresh_key(self, base):
        existing = set(self.ep.state_dict) | set(self.weights.keys())
        key, i = base, 0
        while key in existing:
            i += 1
            key = f"{base}_{i}"
        return key

    def _store(self, key, t):
        # no copy: the store keeps a read-only NumPy view of the model's tensor (a 4 GB model stays 4 GB)
        t = t.detach().cpu().contiguous()
        arr = t.view(torch.int16).numpy().view("uint16") if t.dtype == torch.bfloat16 else t.numpy()
        arr.flags.writeable = False
        self.weights.add(key, arr, dtype="bf16" if t.dtype == torch.bfloat16 else None)

    def param(self, node):
        key, t = self.param_nodes[node]
        v = self.param_values.get(key)
        if v is None:
            saved_loc, self.loc = self.loc, None
            self._store(key, t)
            v = self.emit("param", [], {"key": key}, [tensor_type(t)], name=sanitize(key))
            self.loc = saved_loc
            self.param_values[key] = v
        return v

    # -- the walk

    def run(self) -> Module:
        ep = self.ep
        sig = ep.graph_signature
        spec_by_name = {s.arg.name: s for s in sig.input_specs if hasattr(s.arg, "name")}
        user_inputs = []
        self.ret_values = []
        sd = ep.state_dict
        consts = getattr(ep, "constants", {}) or {}
        placeholders = [n for n in ep.graph.nodes if n.op == "placeholder"]
        args, arg_fakes = [], []
        for n in placeholders:
            spec = spec_by_name.get(n.name)
            kind = spec.kind.name if spec is not None else "USER_INPUT"
            if kind == "USER_INPUT":
                val = n.meta.get("val")
                if not _is_tensor(val):
                    raise IrcError(f"input {n.name} is not a tensor ({type(val).__name__}); irc imports tensor inputs only")
                user_inputs.append(n)
                a = Value(sanitize(n.name), tensor_type(val))
                args.append(a)
                arg_fakes.append(val)
                self.env[n] = a
            elif kind in ("PARAMETER", "BUFFER"):
                t = sd[spec.target] if spec.target in sd else consts[spec.target]
                self.param_nodes[n] = (spec.target, t)
            elif kind in ("CONSTANT_TENSOR", "CUSTOM_OBJ"):
                t = consts.get(spec.target)
                if not _is_tensor(t):
                    raise IrcError(f"the model holds a constant of type {type(t).__name__} ({spec.target}); "
                                   "irc imports tensor constants only")
                self.folded[n] = t
            else:
                raise IrcError(f"cannot import a graph input of kind {kind} ({n.name})")
        self.func = Func("forward", args, [])
        for a, f in zip(args, arg_fakes):
            self._note_syms(a, f)
        self.module = Module(self.name, {}, [self.func], self.weights)
        self.loc = None
        total = sum(1 for n in ep.graph.nodes if n.op == "call_function")
        done = 0
        for node in ep.graph.nodes:
            if node.op == "call_function":
                done += 1
                if done % 100 == 0:
                    self.progress(f"lowering to irc IR: {done}/{total} ATen ops")
                self.node = node
                self.loc = _frame_loc(node.meta.get("stack_trace"))
                self.lower(node)
            elif node.op == "output":
                self.node = node
                self.outputs(node, sig)
            elif node.op == "get_attr":
                self.env[node] = _POISON
                self.fail(node, "get_attr", "graph attributes (submodules) are not supported")
        if self.errors:
            raise IrcError(self.report())
        self.func.set_outputs(self.ret_values)
        self.func.result_types = [v.type for v in self.ret_values]
        return self.module

    def outputs(self, node, sig):
        flat = node.args[0]
        specs = sig.output_specs
        for i, arg in enumerate(flat):
            kind = specs[i].kind.name if i < len(specs) else "USER_OUTPUT"
            if kind != "USER_OUTPUT":
                if kind in ("BUFFER_MUTATION", "USER_INPUT_MUTATION"):
                    self.fail(node, "output", f"the model mutates {specs[i].target} in forward; irc imports "
                              "pure functions (call model.eval() and avoid in-place updates of buffers)")
                continue
            try:
                if isinstance(arg, torch.fx.Node) and arg in self.param_nodes:
                    v = self.param(arg)
                elif isinstance(arg, torch.fx.Node):
                    v = self.value(arg)
                else:
                    raise Unsupported(f"output {i} is a Python {type(arg).__name__}, not a tensor")
                self.ret_values.append(v)
            except _Poisoned:
                pass
            except Unsupported as e:
                self.fail(node, "output", str(e))

    def fail(self, node, opname, reason):
        self.errors.append((opname, reason, self._module_path(node), _frame_loc(node.meta.get("stack_trace"))))

    def report(self) -> str:
        groups: OrderedDict[tuple, list] = OrderedDict()
        for opname, reason, path, loc in self.errors:
            groups.setdefault((opname, reason), []).append((path, loc))
        nodes = len(self.errors)
        kinds = len({g[0] for g in groups})
        head = (f"cannot import {self.name}: {kinds} unsupported op{'s' if kinds != 1 else ''} "
                f"({nodes} node{'s' if nodes != 1 else ''}); nothing was written")
        lines = [head]
        for (opname, reason), where in groups.items():
            lines.append(f"  {opname} x{len(where)}: {reason}")
            seen = []
            for path, loc in where:
                item = f"{path or '<top>'} ({_fmt_loc(loc)})"
                if item not in seen:
                    seen.append(item)
            for item in seen[:8]:
                lines.append(f"      at {item}")
            if len(seen) > 8:
                lines.append(f"      ... and {len(seen) - 8} more places")
        return "\n".join(lines)

    def lower(self, node):
        target = node.target
        opname = _op_name(target)
        # a value computed from no input and no parameter: compute it now
        if self._foldable(node):
            try:
                self.folded[node] = self._evaluate(node)
                return
            except Exception:
                pass  # lower it like any other node
        val = node.meta.get("val")
        if not _is_tensor(val) and not (isinstance(val, (list, tuple)) and any(_is_tensor(x) for x in val)):
            # a SymInt / scalar computation (x.shape[0] * 3): only used in shape arguments
            if target in LOWERINGS and target is not operator.getitem:
                pass
            else:
                self.env[node] = _SYMBOLIC
                return
        fn = LOWERINGS.get(target)
        if fn is None:
            self.env[node] = _POISON
            self.fail(node, opname, "no irc lowering")
            return
        try:
            out = fn(self, node, *node.args, **node.kwargs)
        except _Poisoned:
            self.env[node] = _POISON
            return
        except Unsupported as e:
            self.env[node] = _POISON
            self.fail(node, opname, str(e))
            return
        self.env[node] = out

    def _foldable(self, node) -> bool:
        if node.target in _NEVER_FOLD:
            return False
        if node.target in _SHAPE_ONLY:
            val = node.meta.get("val")
            return _is_tensor(val) and all(isinstance(d, int) for d in val.shape)
        for a in node.all_input_nodes:
            if a in self.folded:
                continue
            if a.op == "call_function" and self.env.get(a) is _SYMBOLIC:
                v = a.meta.get("val")
                if isinstance(v, (int, float, bool)):
                    continue
            return False
        val = node.meta.get("val")
        return _is_tensor(val) or isinstance(val, (int, float, bool, list, tuple))

    def _evaluate(self, node):
        def real(a):
            if isinstance(a, torch.fx.Node):
                if a in self.folded:
                    return self.folded[a]
                v = a.meta.get("val")
                if _is_tensor(v):  # a shape-only op's `self`: only its dtype (and, for *_like, its shape) matter
                    dims = [_dim(d) for d in v.shape]  # never int() a SymInt: that specialises the batch
                    return torch.zeros(tuple(dims) if None not in dims else (), dtype=v.dtype)
                return v
            if isinstance(a, (list, tuple)):
                return type(a)(real(x) for x in a)
            return a

        args = [real(a) for a in node.args]
        kwargs = {k: real(v) for k, v in node.kwargs.items()}
        if "device" in kwargs:
            kwargs["device"] = torch.device("cpu")
        with torch.no_grad():
            return node.target(*args, **kwargs)


class _Poisoned(Exception):
    """An operand failed to lower already; its error is reported once."""


_POISON = object()
_SYMBOLIC = object()


def _op_name(target) -> str:
    if isinstance(target, torch._ops.OpOverload):
        return f"aten.{target._schema.name.split('::')[-1]}{'.' + target._overloadname if target._overloadname else ''}" \
            if target.namespace == "aten" else str(target)
    return getattr(target, "__name__", str(target))


# ----------------------------------------------------------------------------- ATen → nn table

LOWERINGS: dict = {}
_SHAPE_ONLY = {aten.new_zeros.default, aten.new_ones.default, aten.new_full.default, aten.new_empty.default,
               aten.zeros_like.default, aten.ones_like.default, aten.full_like.default, aten.empty_like.default}
_NEVER_FOLD = {aten.rand.default, aten.randn.default, aten.rand_like.default, aten.randn_like.default,
               aten.bernoulli.default, aten.empty.memory_format}


def lowering(*targets):
    def deco(fn):
        for t in targets:
            LOWERINGS[t] = fn
        return fn
    return deco


def _ints(v, n=None):
    if isinstance(v, int):
        return [v] * (n or 1)
    out = [int(x) for x in v]
    if n and len(out) == 1:
        out = out * n
    return out


def _static(x, what):
    if isinstance(x, torch.SymInt):
        d = _dim(x)
        if d is None:
            raise Unsupported(f"{what} depends on the dynamic batch size")
        return d
    if isinstance(x, torch.fx.Node):
        v = x.meta.get("val")
        if isinstance(v, int):
            return v
        d = _dim(v) if isinstance(v, torch.SymInt) else None
        if d is None:
            raise Unsupported(f"{what} depends on the dynamic batch size")
        return d
    return x


def _static_list(xs, what):
    return [_static(x, what) for x in xs]


# -- pass-through and bookkeeping


@lowering(aten.clone.default, aten.contiguous.default, aten.alias.default, aten.detach.default,
          aten.lift_fresh_copy.default, aten.dropout.default, aten.feature_dropout.default,
          aten.alpha_dropout.default, aten.lift_fresh.default)
def _identity(L, node, x, *rest, **kw):
    return _v(L, x)


@lowering(operator.getitem)
def _getitem(L, node, src, i):
    v = L.env.get(src)
    if v is _POISON:
        raise _Poisoned()
    if isinstance(v, (list, tuple)):
        r = v[i]
        if r is None:
            raise Unsupported(f"result {i} of {src.name} is not computed by irc")
        return r
    raise Unsupported(f"cannot index {src.name}")


@lowering(aten._assert_tensor_metadata.default, aten._assert_scalar.default, aten.sym_constrain_range_for_size.default,
          aten._assert_async.msg)
def _assert(L, node, *a, **k):
    return _SYMBOLIC


# -- operand helper: params lower lazily


def _v(L, x, dtype=None):
    if isinstance(x, torch.fx.Node) and x in L.param_nodes:
        v = L.param(x)
        return L.cast(v, dtype) if dtype else v
    return L.value(x, dtype)


def _opt(L, x):
    return None if x is None else _v(L, x)


# -- convolution and pooling


@lowering(aten.conv2d.default, aten.conv2d.padding)
def _conv2d(L, node, x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    wt = w.meta["val"]
    if wt.dim() != 4:
        raise Unsupported(f"only 2-D convolutions are supported (weight has rank {wt.dim()})")
    stride, dilation = _ints(stride, 2), _ints(dilation, 2)
    kh, kw = wt.shape[2], wt.shape[3]
    if isinstance(padding, str):
        if padding == "valid":
            pads = [[0, 0], [0, 0]]
        else:  # "same" (stride 1): PyTorch puts the odd extra pixel at the end
            pads = []
            for k, d in ((kh, dilation[0]), (kw, dilation[1])):
                total = d * (k - 1)
                pads.append([total // 2, total - total // 2])
    else:
        p = _ints(padding, 2)
        pads = [[p[0], p[0]], [p[1], p[1]]]
    operands = [_v(L, x), _v(L, w)] + ([_v(L, b)] if b is not None else [])
    return L.result("conv2d", operands, {"stride": stride, "padding": pads, "dilation": dilation, "groups": groups})


@lowering(aten.convolution.default)
def _convolution(L, node, x, w, b, stride, padding, dilation, transposed, output_padding, groups):
    if w.meta["val"].dim() != 4:
        raise Unsupported("only 2-D convolutions are supported")
    if not transposed:
        return _conv2d(L, node, x, w, b, stride, padding, dilation, groups)
    return _conv_t(L, node, x, w, b, stride, padding, output_padding, groups, dilation)


@lowering(aten.conv_transpose2d.input)
def _conv_t(L, node, x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    p = _ints(padding, 2)
    operands = [_v(L, x), _v(L, w)] + ([_v(L, b)] if b is not None else [])
    return L.result("conv_transpose2d", operands,
                    {"stride": _ints(stride, 2), "padding": [[p[0], p[0]], [p[1], p[1]]], "dilation": _ints(dilation, 2),
                     "groups": groups, "output_padding": _ints(output_padding, 2)})


def _pool_attrs(kernel, stride, padding, ceil_mode):
    k = _ints(kernel, 2)
    s = _ints(stride, 2) if stride else list(k)
    p = _ints(padding, 2)
    return {"kernel_size": k, "stride": s, "padding": [[p[0], p[0]], [p[1], p[1]]], "ceil_mode": bool(ceil_mode)}


@lowering(aten.max_pool2d.default)
def _max_pool(L, node, x, kernel, stride=(), padding=0, dilation=1, ceil_mode=False):
    return L.result("max_pool2d", [_v(L, x)], {**_pool_attrs(kernel, stride, padding, ceil_mode),
                                               "dilation": _ints(dilation, 2)})


@lowering(aten.max_pool2d_with_indices.default)
def _max_pool_idx(L, node, x, kernel, stride=(), padding=0, dilation=1, ceil_mode=False):
    return [L.result("max_pool2d", [_v(L, x)], {**_pool_attrs(kernel, stride, padding, ceil_mode),
                                                "dilation": _ints(dilation, 2)}, i=0), None]


@lowering(aten.avg_pool2d.default)
def _avg_pool(L, node, x, kernel, stride=(), padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    if divisor_override is not None:
        raise Unsupported("avg_pool2d with divisor_override is not supported")
    return L.result("avg_pool2d", [_v(L, x)], {**_pool_attrs(kernel, stride, padding, ceil_mode),
                                               "count_include_pad": bool(count_include_pad)})


@lowering(aten.adaptive_avg_pool2d.default, aten._adaptive_avg_pool2d.default)
def _adaptive_avg(L, node, x, size):
    if x.meta["val"].dim() != 4:
        raise Unsupported("adaptive pooling of a non-4-D tensor is not supported")
    return L.result("adaptive_avg_pool2d", [_v(L, x)], {"output_size": _static_list(_ints(size, 2), "output size")})


@lowering(aten.adaptive_max_pool2d.default)
def _adaptive_max(L, node, x, size):
    return [L.result("adaptive_max_pool2d", [_v(L, x)], {"output_size": _static_list(_ints(size, 2), "output size")},
                     i=0), None]


# -- normalisation


def _bn_operands(L, x, w, b, mean, var):
    c = x.meta["val"].shape[1]
    dtype = tensor_type(x.meta["val"]).dtype
    c = _static(c, "channel count")
    w = _v(L, w) if w is not None else L.constant(1.0, dtype, (c,))
    b = _v(L, b) if b is not None else L.constant(0.0, dtype, (c,))
    return [_v(L, x), w, b, _v(L, mean), _v(L, var)]


@lowering(aten._native_batch_norm_legit_no_training.default)
def _bn_legit(L, node, x, w, b, mean, var, momentum, eps):
    return [L.result("batch_norm", _bn_operands(L, x, w, b, mean, var), {"epsilon": float(eps)}, i=0), None, None]


@lowering(aten.batch_norm.default)
def _bn(L, node, x, w, b, mean, var, training, momentum, eps, cudnn=True):
    if training or mean is None:
        raise Unsupported("batch norm in training mode (call model.eval())")
    return L.result("batch_norm", _bn_operands(L, x, w, b, mean, var), {"epsilon": float(eps)})


@lowering(aten._native_batch_norm_legit.no_stats, aten._native_batch_norm_legit.default)
def _bn_train(L, node, *a, **k):
    raise Unsupported("batch norm in training mode (call model.eval())")


@lowering(aten.layer_norm.default)
def _layer_norm(L, node, x, shape, w=None, b=None, eps=1e-5, cudnn=True):
    rank = x.meta["val"].dim()
    axes = list(range(rank - len(shape), rank))
    ops = [_v(L, x)]
    if w is not None:
        ops.append(_v(L, w))
    if b is not None:
        if w is None:
            ops.append(L.constant(1.0, ops[0].type.dtype, tuple(_static_list(shape, "normalized shape"))))
        ops.append(_v(L, b))
    return L.result("layer_norm", ops, {"axes": axes, "epsilon": float(eps)})


@lowering(aten.native_layer_norm.default)
def _native_layer_norm(L, node, x, shape, w, b, eps):
    rank = x.meta["val"].dim()
    ops = [_v(L, x)] + ([_v(L, w)] if w is not None else []) + ([_v(L, b)] if b is not None and w is not None else [])
    if b is not None and w is None:
        raise Unsupported("layer norm with a bias but no weight")
    return [L.result("layer_norm", ops, {"axes": list(range(rank - len(shape), rank)), "epsilon": float(eps)}, i=0),
            None, None]


@lowering(aten.group_norm.default)
def _group_norm(L, node, x, groups, w=None, b=None, eps=1e-5, cudnn=True):
    ops = [_v(L, x)] + ([_v(L, w)] if w is not None else [])
    if b is not None:
        if w is None:
            raise Unsupported("group norm with a bias but no weight")
        ops.append(_v(L, b))
    return L.result("group_norm", ops, {"num_groups": int(groups), "epsilon": float(eps)})


@lowering(aten.softmax.int, aten._softmax.default)
def _softmax(L, node, x, dim, dtype_or_half=None):
    v = _v(L, x)
    want = L.out_type().dtype
    return L.result("softmax", [L.cast(v, want)], {"axis": int(dim)})


@lowering(aten.log_softmax.int, aten._log_softmax.default)
def _log_softmax(L, node, x, dim, dtype_or_half=None):
    v = _v(L, x)
    return L.result("log_softmax", [L.cast(v, L.out_type().dtype)], {"axis": int(dim)})


# -- element-wise

_UNARY = {aten.relu.default: "relu", aten.sigmoid.default: "sigmoid", aten.tanh.default: "tanh",
          aten.silu.default: "silu", aten.hardswish.default: "hardswish", aten.exp.default: "exp",
          aten.log.default: "log", aten.sqrt.default: "sqrt", aten.rsqrt.default: "rsqrt", aten.neg.default: "neg",
          aten.abs.default: "abs", aten.erf.default: "erf"}


def _make_unary(kind):
    def fn(L, node, x):
        v = _v(L, x)
        return L.result(kind, [L.cast(v, L.out_type().dtype)])
    return fn


for _t, _k in _UNARY.items():
    LOWERINGS[_t] = _make_unary(_k)


@lowering(aten.hardsigmoid.default)
def _hardsigmoid(L, node, x):
    return L.result("hardsigmoid", [_v(L, x)])


@lowering(aten.hardtanh.default)
def _hardtanh(L, node, x, lo=-1.0, hi=1.0):
    return L.result("clamp", [_v(L, x)], {"min": float(lo), "max": float(hi)})


@lowering(aten.relu6.default)
def _relu6(L, node, x):
    return L.result("clamp", [_v(L, x)], {"min": 0.0, "max": 6.0})


@lowering(aten.clamp.default)
def _clamp(L, node, x, lo=None, hi=None):
    if lo is None and hi is None:
        return _v(L, x)
    return L.result("clamp", [_v(L, x)], {"min": None if lo is None else float(lo),
                                          "max": None if hi is None else float(hi)})


@lowering(aten.leaky_relu.default)
def _leaky(L, node, x, slope=0.01):
    return L.result("leaky_relu", [_v(L, x)], {"negative_slope": float(slope)})


@lowering(aten.elu.default)
def _elu(L, node, x, alpha=1.0, scale=1.0, input_scale=1.0):
    if scale != 1 or input_scale != 1:
        raise Unsupported("elu with scale (selu) is not supported")
    return L.result("elu", [_v(L, x)], {"alpha": float(alpha)})


@lowering(aten.gelu.default)
def _gelu(L, node, x, approximate="none"):
    return L.result("gelu", [_v(L, x)], {"approximate": approximate})


@lowering(aten.softplus.default)
def _softplus(L, node, x, beta=1.0, threshold=20.0):
    return L.result("softplus", [_v(L, x)], {"beta": float(beta), "threshold": float(threshold)})


def _binary_operands(L, a, b):
    want = L.out_type().dtype
    return _v(L, a, want), _v(L, b, want)


def _make_binary(kind):
    def fn(L, node, a, b, alpha=1):
        x, y = _binary_operands(L, a, b)
        if alpha != 1:
            y = L.emit("mul", [y, L.constant(float(alpha) if y.type.dtype.startswith(("f", "b")) else int(alpha),
                                               y.type.dtype)])
        return L.result(kind, [x, y])
    return fn


for _t, _k in {aten.add.Tensor: "add", aten.add.Scalar: "add", aten.sub.Tensor: "sub", aten.sub.Scalar: "sub",
               aten.mul.Tensor: "mul", aten.mul.Scalar: "mul", aten.div.Tensor: "div", aten.div.Scalar: "div",
               aten.pow.Tensor_Tensor: "pow", aten.pow.Tensor_Scalar: "pow", aten.maximum.default: "maximum",
               aten.minimum.default: "minimum"}.items():
    LOWERINGS[_t] = _make_binary(_k)


@lowering(aten.rsub.Scalar, aten.rsub.Tensor)
def _rsub(L, node, a, b, alpha=1):
    x, y = _binary_operands(L, a, b)
    if alpha != 1:
        x = L.emit("mul", [x, L.constant(float(alpha), x.type.dtype)])
    return L.result("sub", [y, x])


@lowering(aten.div.Tensor_mode)
def _div_mode(L, node, a, b, rounding_mode=None):
    if rounding_mode is not None:
        raise Unsupported(f"division with rounding_mode={rounding_mode!r} is not supported")
    return _make_binary("div")(L, node, a, b)


@lowering(aten._to_copy.default, aten.to.dtype)
def _to_copy(L, node, x, *a, **kw):
    v = _v(L, x)
    want = L.out_type().dtype
    return v if v.type.dtype == want else L.result("cast", [v], {"dtype": want})


# -- linear algebra


@lowering(aten.linear.default)
def _linear(L, node, x, w, b=None):
    return L.result("linear", [_v(L, x), _v(L, w)] + ([_v(L, b)] if b is not None else []))


@lowering(aten.matmul.default, aten.mm.default, aten.bmm.default)
def _matmul(L, node, a, b):
    return L.result("matmul", [_v(L, a), _v(L, b)])


@lowering(aten.addmm.default)
def _addmm(L, node, bias, a, b, beta=1, alpha=1):
    if beta != 1 or alpha != 1:
        raise Unsupported("addmm with alpha or beta is not supported")
    mm = L.emit("matmul", [_v(L, a), _v(L, b)])
    return L.result("add", [mm, _v(L, bias)])


@lowering(aten.t.default)
def _t(L, node, x):
    return L.result("transpose", [_v(L, x)], {"perm": [1, 0]} if x.meta["val"].dim() == 2 else {"perm": [0]})


@lowering(aten.scaled_dot_product_attention.default)
def _sdpa(L, node, q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    if dropout_p:
        raise Unsupported("attention with dropout (call model.eval())")
    if enable_gqa:
        raise Unsupported("grouped-query attention (enable_gqa) is not supported")
    ops = [_v(L, q), _v(L, k), _v(L, v)] + ([_v(L, attn_mask)] if attn_mask is not None else [])
    return L.result("scaled_dot_product_attention", ops,
                    {"is_causal": bool(is_causal), "scale": None if scale is None else float(scale)})


# -- reductions


def _dims(dim, rank):
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return list(range(rank))
    return _ints(dim)


@lowering(aten.mean.dim)
def _mean(L, node, x, dim, keepdim=False, dtype=None):
    v = _v(L, x, L.out_type().dtype)
    return L.result("mean", [v], {"axes": _dims(dim, x.meta["val"].dim()), "keepdims": bool(keepdim)})


@lowering(aten.mean.default)
def _mean_all(L, node, x, dtype=None):
    return L.result("mean", [_v(L, x, L.out_type().dtype)], {"axes": list(range(x.meta["val"].dim())),
                                                             "keepdims": False})


@lowering(aten.sum.dim_IntList)
def _sum(L, node, x, dim, keepdim=False, dtype=None):
    v = _v(L, x, L.out_type().dtype)
    return L.result("sum", [v], {"axes": _dims(dim, x.meta["val"].dim()), "keepdims": bool(keepdim)})


@lowering(aten.amax.default, aten.amin.default)
def _amax(L, node, x, dim=(), keepdim=False):
    kind = "reduce_max" if node.target is aten.amax.default else "reduce_min"
    return L.result(kind, [_v(L, x)], {"axes": _dims(dim, x.meta["val"].dim()), "keepdims": bool(keepdim)})


# -- data movement


@lowering(aten.cat.default, aten.concat.default)
def _cat(L, node, xs, dim=0):
    want = L.out_type().dtype
    vals = [_v(L, x, want) for x in xs]
    if len(vals) == 1:
        return vals[0]
    return L.result("concat", vals, {"axis": int(dim)})


def _reshape_attr(L, x, out):
    """nn.reshape's `shape` for a fake output shape: static dims as ints, a dynamic dim equal to
    the input's at the same index as 0, at most one other dynamic dim as -1."""
    inp = x.meta["val"].shape
    attr = []
    for i, d in enumerate(out):
        s = _sym(d)
        if s is None:
            attr.append(int(d))
        elif i < len(inp) and _sym(inp[i]) == s:
            attr.append(0)
        else:
            attr.append(-1)
    if attr.count(-1) > 1:
        raise Unsupported(f"reshape to {list(out)} has more than one dynamic dimension that is not copied from the input")
    # a static 0-sized dim would read as 'copy'; irc does not import empty tensors
    if any(d == 0 and _sym(out[i]) is None for i, d in enumerate(attr)):
        raise Unsupported("reshape to a shape with a zero-sized dimension")
    return attr


@lowering(aten.view.default, aten.reshape.default, aten._unsafe_view.default)
def _view(L, node, x, shape):
    out = node.meta["val"].shape
    inp = x.meta["val"].shape
    v = _v(L, x)
    if len(out) == len(inp) and all(_sym(a) == _sym(b) and _dim(a) == _dim(b) for a, b in zip(inp, out)):
        return v
    return L.result("reshape", [v], {"shape": _reshape_attr(L, x, out)})


@lowering(aten.flatten.using_ints)
def _flatten(L, node, x, start=0, end=-1):
    return L.result("flatten", [_v(L, x)], {"start_axis": int(start), "end_axis": int(end)})


@lowering(aten.permute.default)
def _permute(L, node, x, perm):
    rank = x.meta["val"].dim()
    return L.result("transpose", [_v(L, x)], {"perm": [p % rank for p in perm]})


@lowering(aten.transpose.int)
def _transpose(L, node, x, a, b):
    rank = x.meta["val"].dim()
    perm = list(range(rank))
    a, b = a % rank, b % rank
    perm[a], perm[b] = perm[b], perm[a]
    return L.result("transpose", [_v(L, x)], {"perm": perm})


@lowering(aten.unsqueeze.default)
def _unsqueeze(L, node, x, dim):
    return L.result("unsqueeze", [_v(L, x)], {"axes": [int(dim)]})


@lowering(aten.squeeze.dim, aten.squeeze.dims, aten.squeeze.default)
def _squeeze(L, node, x, dim=None):
    shape = x.meta["val"].shape
    rank = len(shape)
    if dim is None:
        axes = [i for i, d in enumerate(shape) if _dim(d) == 1]
    else:
        axes = [a % max(rank, 1) for a in _ints(dim)]
        axes = [a for a in axes if rank and _dim(shape[a]) == 1]  # torch ignores dims that are not 1
    if not axes:
        return _v(L, x)
    return L.result("squeeze", [_v(L, x)], {"axes": axes})


def _slice_bounds(L, x, dim, start, end, step):
    shape = x.meta["val"].shape
    size = shape[dim]
    start = 0 if start is None else start
    end = INT64_MAX if end is None else end
    if isinstance(end, (torch.SymInt, torch.fx.Node)):
        e_sym = _sym(end.meta["val"]) if isinstance(end, torch.fx.Node) else _sym(end)
        if e_sym is not None and e_sym == _sym(size):
            end = INT64_MAX
        else:
            end = _static(end, "slice end")
    start = _static(start, "slice start")
    end = min(int(end), INT64_MAX)
    return int(start), end, int(step)


@lowering(aten.slice.Tensor)
def _slice(L, node, x, dim=0, start=None, end=None, step=1):
    rank = x.meta["val"].dim()
    dim = dim % rank
    s, e, st = _slice_bounds(L, x, dim, start, end, step)
    size = _dim(x.meta["val"].shape[dim])
    if s == 0 and st == 1 and (e >= INT64_MAX or (size is not None and e >= size)):
        return _v(L, x)
    return L.result("slice", [_v(L, x)], {"axes": [dim], "starts": [s], "ends": [e], "steps": [st] if st != 1 else None})


@lowering(aten.select.int)
def _select(L, node, x, dim, index):
    rank = x.meta["val"].dim()
    dim = dim % rank
    index = _static(index, "select index")
    end = index + 1 if index != -1 else INT64_MAX
    s = L.emit("slice", [_v(L, x)], {"axes": [dim], "starts": [index], "ends": [end]})
    return L.result("squeeze", [s], {"axes": [dim]})


def _split_results(L, node, x, sizes, dim):
    rank = x.meta["val"].dim()
    types = [tensor_type(t) for t in node.meta["val"]]
    vals = L.emit("split", [_v(L, x)], {"axis": dim % rank, "sizes": sizes}, types, nresults=True)
    for r, f in zip(vals, node.meta["val"]):
        L._note_syms(r, f)
    return list(vals)


@lowering(aten.split.Tensor, aten.split_with_sizes.default, aten.split.sizes)
def _split(L, node, x, size, dim=0):
    sizes = [_static(t.shape[dim % t.dim()], "split size") for t in node.meta["val"]]
    return _split_results(L, node, x, sizes, dim)


@lowering(aten.chunk.default)
def _chunk(L, node, x, chunks, dim=0):
    sizes = [_static(t.shape[dim % t.dim()], "chunk size") for t in node.meta["val"]]
    return _split_results(L, node, x, sizes, dim)


@lowering(aten.unbind.int)
def _unbind(L, node, x, dim=0):
    rank = x.meta["val"].dim()
    dim = dim % rank
    n = _static(x.meta["val"].shape[dim], "unbind size")
    pieces = L.emit("split", [_v(L, x)], {"axis": dim, "sizes": [1] * n}, nresults=True)
    return [L.emit("squeeze", [p], {"axes": [dim]}, [tensor_type(t)]) for p, t in zip(pieces, node.meta["val"])]


def _expand_attrs(L, x, out):
    """nn.expand / nn.expand_like attributes for a fake output shape."""
    inp = x.meta["val"].shape
    lead = len(out) - len(inp)
    shape, like = [], []
    for i, d in enumerate(out):
        src = inp[i - lead] if i >= lead else None
        if i >= lead and (_sym(src) == _sym(d) and _dim(src) == _dim(d)):
            shape.append(-1)
        elif _sym(d) is None:
            shape.append(int(d))
        else:
            found = L.sym_source.get(_sym(d))
            if found is None:
                raise Unsupported(f"cannot express the dynamic size {d} in expand")
            shape.append(1 if i < lead or _dim(src) == 1 else -1)
            like.append((i, found))
    return shape, like


@lowering(aten.expand.default)
def _expand(L, node, x, size, implicit=False):
    out = node.meta["val"].shape
    shape, like = _expand_attrs(L, x, out)
    v = _v(L, x)
    if all(s == -1 for s in shape) and not like and len(shape) == v.type.rank:
        return v
    if not like:
        return L.result("expand", [v], {"shape": shape})
    owners = {id(val) for _, (val, _) in like}
    if len(owners) > 1:
        raise Unsupported("expand to dynamic sizes taken from different tensors")
    ref = like[0][1][0]
    return L.result("expand_like", [v, ref], {"shape": shape, "like_dims": [[i, j] for i, (_, j) in like]})


@lowering(aten.constant_pad_nd.default, aten.pad.default)
def _pad(L, node, x, pad, mode="constant", value=None):
    if node.target is aten.constant_pad_nd.default:
        value, mode = mode if not isinstance(mode, str) else 0.0, "constant"
    pad = _static_list(pad, "padding")
    rank = x.meta["val"].dim()
    pairs = [[0, 0] for _ in range(rank)]
    for i in range(len(pad) // 2):
        pairs[rank - 1 - i] = [pad[2 * i], pad[2 * i + 1]]
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise Unsupported(f"padding mode {mode!r} is not supported")
    return L.result("pad", [_v(L, x)], {"pads": pairs, "mode": mode,
                                        "value": float(value or 0.0) if mode == "constant" else None})


@lowering(aten.reflection_pad2d.default, aten.replication_pad2d.default, aten.reflection_pad1d.default,
          aten.replication_pad1d.default)
def _pad_mode(L, node, x, pad):
    mode = "reflect" if "reflection" in str(node.target) else "replicate"
    return _pad(L, node, x, pad, mode)


@lowering(aten.roll.default)
def _roll(L, node, x, shifts, dims=()):
    if not dims:
        raise Unsupported("roll without dims (over the flattened tensor) is not supported")
    return L.result("roll", [_v(L, x)], {"shifts": _static_list(_ints(shifts), "roll shift"), "axes": _ints(dims)})


@lowering(aten.index.Tensor)
def _index(L, node, x, indices):
    present = [i for i, t in enumerate(indices) if t is not None]
    if len(present) != 1:
        raise Unsupported("indexing with more than one index tensor is not supported")
    axis = present[0]
    idx = indices[axis]
    if idx.meta["val"].dtype not in (torch.int64, torch.int32):
        raise Unsupported("indexing with a boolean mask is not supported")
    return L.result("gather", [_v(L, x), _v(L, idx)], {"axis": axis})


@lowering(aten.index_select.default)
def _index_select(L, node, x, dim, idx):
    return L.result("gather", [_v(L, x), _v(L, idx)], {"axis": int(dim)})


# -- resizing


def _upsample(L, node, x, mode, output_size, scales, align_corners=False):
    attrs = {"mode": mode}
    if mode == "bilinear":
        attrs["align_corners"] = bool(align_corners)
    if output_size is not None:
        attrs["size"] = _static_list(output_size, "output size")
    elif scales is not None:
        attrs["scales"] = [float(s) for s in scales]
    else:
        raise Unsupported("upsampling needs a size or scale factors")
    return L.result("upsample", [_v(L, x)], attrs)


@lowering(aten.upsample_nearest2d.vec)
def _up_nearest_vec(L, node, x, output_size, scales):
    return _upsample(L, node, x, "nearest", output_size, scales)


@lowering(aten.upsample_nearest2d.default)
def _up_nearest(L, node, x, output_size, scales_h=None, scales_w=None):
    return _upsample(L, node, x, "nearest", output_size, None)


@lowering(aten.upsample_bilinear2d.vec)
def _up_bilinear_vec(L, node, x, output_size, align_corners, scales):
    return _upsample(L, node, x, "bilinear", output_size, scales, align_corners)


@lowering(aten.upsample_bilinear2d.default)
def _up_bilinear(L, node, x, output_size, align_corners, scales_h=None, scales_w=None):
    return _upsample(L, node, x, "bilinear", output_size, None, align_corners)


# -- more ops, raised to the ones above


@lowering(aten.conv1d.default, aten.conv1d.padding)
def _conv1d(L, node, x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """conv1d as conv2d over a height of 1 (what torch does inside, too)."""
    if isinstance(padding, str):
        if padding == "valid":
            pads = [[0, 0], [0, 0]]
        else:
            k, d = w.meta["val"].shape[2], _ints(dilation)[0]
            total = d * (k - 1)
            pads = [[0, 0], [total // 2, total - total // 2]]
    else:
        p = _ints(padding)[0]
        pads = [[0, 0], [p, p]]
    x4 = L.emit("unsqueeze", [_v(L, x)], {"axes": [2]})
    w4 = L.emit("unsqueeze", [_v(L, w)], {"axes": [2]})
    operands = [x4, w4] + ([_v(L, b)] if b is not None else [])
    y = L.emit("conv2d", operands, {"stride": [1, _ints(stride)[0]], "padding": pads,
                                    "dilation": [1, _ints(dilation)[0]], "groups": groups})
    return L.result("squeeze", [y], {"axes": [2]})


@lowering(aten.embedding.default)
def _embedding(L, node, w, idx, padding_idx=-1, scale_grad=False, sparse=False):
    return L.result("gather", [_v(L, w), _v(L, idx)], {"axis": 0})


@lowering(aten.pixel_shuffle.default)
def _pixel_shuffle(L, node, x, r):
    _, c, h, w = [_dim(d) for d in x.meta["val"].shape]
    if None in (c, h, w):
        raise Unsupported("pixel_shuffle with dynamic channel or spatial sizes")
    c2 = c // (r * r)
    y = L.emit("reshape", [_v(L, x)], {"shape": [0, c2, r, r, h, w]})
    y = L.emit("transpose", [y], {"perm": [0, 1, 4, 2, 5, 3]})
    return L.result("reshape", [y], {"shape": [0, c2, h * r, w * r]})


@lowering(aten.max.dim, aten.min.dim)
def _max_dim(L, node, x, dim, keepdim=False):
    kind = "reduce_max" if node.target is aten.max.dim else "reduce_min"
    return [L.result(kind, [_v(L, x)], {"axes": [int(dim)], "keepdims": bool(keepdim)}, i=0), None]


@lowering(aten.sum.default)
def _sum_all(L, node, x, dtype=None):
    return L.result("sum", [_v(L, x, L.out_type().dtype)], {"axes": list(range(x.meta["val"].dim())),
                                                            "keepdims": False})


@lowering(aten.square.default)
def _square(L, node, x):
    v = _v(L, x)
    return L.result("mul", [v, v])


@lowering(aten.reciprocal.default)
def _reciprocal(L, node, x):
    v = _v(L, x)
    return L.result("div", [L.constant(1.0, v.type.dtype), v])


@lowering(aten.prelu.default, aten._prelu_kernel.default)
def _prelu(L, node, x, w):
    """relu(x) + w * min(x, 0), with w broadcast over the channel axis."""
    v, wv = _v(L, x), _v(L, w)
    rank = v.type.rank
    if wv.type.numel() != 1 and rank > 2:
        wv = L.emit("reshape", [wv], {"shape": [-1] + [1] * (rank - 2)})
    pos = L.emit("relu", [v])
    neg = L.emit("minimum", [v, L.constant(0.0, v.type.dtype)])
    return L.result("add", [pos, L.emit("mul", [neg, wv])])


# ----------------------------------------------------------------------------- decomposition of the rest


def foldable_nodes(ep) -> set:
    """Nodes computable at import time: they read no input and no parameter or buffer."""
    consts = {s.arg.name for s in ep.graph_signature.input_specs
              if s.kind.name == "CONSTANT_TENSOR" and hasattr(s.arg, "name")}
    out: set = set()
    for n in ep.graph.nodes:
        if n.op == "placeholder":
            if n.name in consts:
                out.add(n)
            continue
        if n.op != "call_function" or n.target in _NEVER_FOLD:
            continue
        val = n.meta.get("val")
        if n.target in _SHAPE_ONLY:
            if _is_tensor(val) and all(isinstance(d, int) for d in val.shape):
                out.add(n)
            continue
        if all(a in out or isinstance(a.meta.get("val"), (int, float, bool)) for a in n.all_input_nodes):
            out.add(n)
    return out


def decompose_unknown(ep, rounds: int = 4):
    """Decompose, to core ATen, the ops irc has no lowering for (where torch has a decomposition)."""
    try:
        table = torch._decomp.core_aten_decompositions()
    except Exception:
        return ep
    tried: set = set()
    for _ in range(rounds):
        # never decompose what is computed at import time anyway, nor shape arithmetic (sym_size has a
        # "decomposition" that bakes the example's sizes in)
        folded = foldable_nodes(ep)
        unknown = {n.target for n in ep.graph.nodes if n.op == "call_function" and n not in folded
                   and isinstance(n.target, torch._ops.OpOverload) and n.target not in LOWERINGS
                   and n.target not in _SHAPE_ONLY and n.target in table and n.target not in tried
                   and (_is_tensor(n.meta.get("val")) or isinstance(n.meta.get("val"), (list, tuple)))}
        if not unknown:
            break
        tried |= unknown
        ep = ep.run_decompositions({op: table[op] for op in unknown})
    return ep


def import_model(model, input_types=None, batch=1, name=None, progress=None, warn=None,
                 dynamic_dims=None) -> Module:
    """Lower a torch.nn.Module (or a torch.export.ExportedProgram) into a verified irc Module.

    input_types: one (shape_without_batch, dtype) per input, e.g. [((3, 224, 224), "f32")].
    batch: an int, or "dynamic" for a `?` batch dimension (export with an example batch of 2 and a
    torch.export.Dim; if export refuses, fall back to batch 1 with a warning saying why).
    dynamic_dims: other dynamic dimensions, one list of per-sample dims per input ([] for none). E.g. token
    ids [batch, seq] with a dynamic sequence length: `import_model(m, [((12,), "i64")], batch="dynamic",
    dynamic_dims=[[0]])`; the shape's number (12) is the example size export traces with (at least 2).
    The IR gets `?` there. A dim the model needs static stays static, with a warning; if export fails
    with the dynamic dims, the import falls back to static shapes with a warning.
    progress: optional callable(str) told about the slow steps. warn: callable(str) for warnings
    (default: warnings.warn). The model itself is never modified: a deep copy is exported. The copy
    shares the model's parameter and buffer tensors, and so do the returned module's weights
    (read-only views, written out by irc.save / emit): change the model in place after importing it
    and the module sees the change.
    """
    warn = warn or (lambda msg: warnings.warn(msg, stacklevel=2))
    progress = progress or (lambda msg: None)
    if isinstance(model, torch.export.ExportedProgram):
        ep, root, name = model, None, name or "model"
    else:
        if not isinstance(model, torch.nn.Module):
            raise IrcError(f"cannot import a {type(model).__name__}: expected a torch.nn.Module or an ExportedProgram")
        if not input_types:
            raise IrcError("give the input shapes (--shape C,H,W once per input)")
        progress("exporting with torch.export")
        with quiet_torch(), full_stack_traces():
            if isinstance(model, torch.jit.ScriptModule):
                name = name or getattr(model, "original_name", "") or "model"
                model = script_to_module(model, input_types, batch)
            else:
                name = name or type(model).__name__
            ep, root = export(model, input_types, batch, warn, dynamic_dims)
    progress("decomposing to ATen")
    try:
        with quiet_torch():
            ep = ep.run_decompositions({})
            ep = decompose_unknown(ep)
    except Exception as e:
        raise IrcError(f"torch.export could not decompose the model: {_short_reason(e)}") from None
    progress("lowering to irc IR")
    mname = sanitize(name)
    if not re.match(r"[A-Za-z_]", mname):  # a module's @name starts with a letter or _
        mname = "m_" + mname
    with quiet_torch():
        module = _Lowerer(ep, root, mname, progress).run()
    progress("verifying")
    verify(module)
    return module


from . import torch_recurrent  # noqa: F401  (registers the nn.LSTM/GRU/RNN lowerings)

__all__ = ["LOWERINGS", "decompose_unknown", "export", "import_model", "sanitize"]
