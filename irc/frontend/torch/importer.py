"""The torch importer: walks a decomposed torch.export graph and builds one IR function.

Each ATen node goes to the handler `IMPORTERS` has for its overload (the family files of this
package fill the table: `@imports(aten.conv2d.default)`). Handlers take the importer, the fx node
and the node's arguments, and return the IR value(s) the node computes. Names follow module paths
(`nn_module_stack`), `nn.param` keys are the graph signature's state_dict keys, and locations come
from each node's `stack_trace` (the innermost frame outside torch). Result types come from the fake
tensors export records (`val`); the verifier then checks them against the registry's inference.

Subgraphs that read no input and no parameter (attention masks built from static shapes, for
instance) are computed here, once, and enter the IR as constants.
"""

from __future__ import annotations

import operator
from collections.abc import Callable

import torch

from ...ir import DenseAttr, Func, IrcError, Module, TensorType, Value, WeightStore
from ...ir.core import DENSE_MAX
from ...ir.core import sanitize_name as sanitize
from ...ir.dtypes import FLOAT_DTYPES, from_torch
from ...ir.table import OpTable
from ..core import POISON, Frontend, Poisoned, Unsupported
from .load import format_loc, frame_loc, keep_module_hint, module_frames

aten = torch.ops.aten

IMPORTERS = OpTable("torch importer")  # ATen overload (or operator.getitem) -> handler(importer, node, *args)
imports = IMPORTERS.register

SYMBOLIC = object()  # the value of a node that computes a SymInt / Python scalar (used in shape arguments)
SHAPE_ONLY = {aten.new_zeros.default, aten.new_ones.default, aten.new_full.default, aten.new_empty.default,
              aten.zeros_like.default, aten.ones_like.default, aten.full_like.default, aten.empty_like.default}
NEVER_FOLD = {aten.rand.default, aten.randn.default, aten.rand_like.default, aten.randn_like.default,
              aten.bernoulli.default, aten.empty.memory_format}



# ----------------------------------------------------------------------------- fake tensors and sizes


def is_tensor(value: object) -> bool:
    return isinstance(value, torch.Tensor)


def static_dim(size: object) -> int | None:
    """A size as an int, None when it is symbolic (or not a size)."""
    if isinstance(size, int):
        return size
    if isinstance(size, torch.SymInt):
        try:
            return int(size.node.expr) if size.node.expr.is_number else None
        except Exception:
            return None
    return None


def tensor_type(fake: torch.Tensor) -> TensorType:
    dtype = from_torch(fake.dtype)
    if dtype is None:
        raise Unsupported(f"tensors of dtype {fake.dtype} are not supported")
    return TensorType(tuple(static_dim(d) for d in fake.shape), dtype)


def sym_key(size: object) -> object:
    """A hashable key for a symbolic dimension (its sympy expression), None for a static one."""
    if isinstance(size, torch.SymInt):
        expr = size.node.expr
        return None if expr.is_number else expr
    return None


def as_ints(value: int | list | tuple, count: int | None = None) -> list[int]:
    """An int or a list of ints as a list; a single value repeated `count` times."""
    if isinstance(value, int):
        return [value] * (count or 1)
    out = [int(x) for x in value]
    if count and len(out) == 1:
        out = out * count
    return out


def static(size: object, what: str) -> object:
    """A size argument as an int; Unsupported when it depends on a dynamic size."""
    if isinstance(size, torch.SymInt):
        found = static_dim(size)
        if found is None:
            raise Unsupported(f"{what} depends on the dynamic batch size")
        return found
    if isinstance(size, torch.fx.Node):
        val = size.meta.get("val")
        if isinstance(val, int):
            return val
        found = static_dim(val) if isinstance(val, torch.SymInt) else None
        if found is None:
            raise Unsupported(f"{what} depends on the dynamic batch size")
        return found
    return size


def static_list(sizes: list | tuple, what: str) -> list:
    return [static(size, what) for size in sizes]


# ----------------------------------------------------------------------------- locations and op names


def op_name(target: object) -> str:
    """How an error names a node's target: `aten.conv2d.default`."""
    if isinstance(target, torch._ops.OpOverload):
        if target.namespace != "aten":
            return str(target)
        overload = "." + target._overloadname if target._overloadname else ""
        return f"aten.{target._schema.name.split('::')[-1]}{overload}"
    return getattr(target, "__name__", str(target))


def store_tensor(store: WeightStore, key: str, tensor: torch.Tensor) -> None:
    """Keep a torch tensor in an irc weight store under `key` without copying it: a read-only NumPy view (bf16 as its
    raw uint16 bits), so a 4 GB model stays 4 GB."""
    t = tensor.detach().cpu().contiguous()
    arr = t.view(torch.int16).numpy().view("uint16") if t.dtype == torch.bfloat16 else t.numpy()
    arr.flags.writeable = False
    store.add(key, arr, dtype="bf16" if t.dtype == torch.bfloat16 else None)


# ----------------------------------------------------------------------------- the importer


class TorchImporter(Frontend):
    """Imports one ExportedProgram (after `run_decompositions`) into an IR module."""

    def __init__(self, ep: torch.export.ExportedProgram, root: torch.nn.Module | None, name: str,
                 progress: Callable | None = None, warn: Callable | None = None, weights: WeightStore | None = None):
        super().__init__(name, progress, warn)
        self.ep = ep
        self.root = root
        # a checkpoint's store when the model's tensors are on the meta device (checkpoint.checkpoint_model)
        self.weights = weights if weights is not None else WeightStore(None)
        self.env: dict = {}  # fx node -> Value | list | python value
        self.folded: dict = {}  # fx node -> real tensor / python value computed at import time
        self.param_nodes: dict = {}  # placeholder node -> (key, tensor)
        self.param_values: dict = {}  # key -> Value
        self.sym_source: dict = {}  # sympy expr -> (Value, dim)
        self.node, self.loc = None, None
        self.ret_values: list = []
        self.node_values: dict | None = None  # when a dict: fx node name -> the Value it became (irc.bisect)
        self.input_names: list[str] | None = None  # names for the function's arguments (else the forward's)
        self.user_training = False  # the model given was in training mode (irc exports an eval-mode copy)
        self._frame_cache: dict = {}

    # -- module paths, names, locations

    def _module_path(self, node: torch.fx.Node) -> str:
        stack = node.meta.get("nn_module_stack") or {}
        path = list(stack.values())[-1][0] if stack else ""
        return path if isinstance(path, str) else ""

    def _leaf(self, path: str, type_name: str = "") -> bool:
        if not path:
            return False
        if self.root is None:  # an ExportedProgram from elsewhere: torch.nn's own layers are leaves
            return str(type_name).startswith("torch.nn.modules.")
        try:
            sub = self.root.get_submodule(path)
        except Exception:
            return False
        return next(iter(sub.children()), None) is None

    def frames(self, node: torch.fx.Node | None) -> tuple:
        """The blocks `node` ran in (irc.ir.structure), from its `nn_module_stack` (load.module_frames)."""
        stack = (node.meta.get("nn_module_stack") or {}) if node is not None else {}
        key = tuple(stack)
        if key not in self._frame_cache:
            self._frame_cache[key] = module_frames(self.root, stack)
        return self._frame_cache[key]

    def base_name(self, node: torch.fx.Node, kind: str) -> str:
        path = self._module_path(node)
        stack = node.meta.get("nn_module_stack") or {}
        type_name = list(stack.values())[-1][1] if stack else ""
        if path and self._leaf(path, type_name):
            return sanitize(path)
        return sanitize(f"{path}.{kind}" if path else kind)

    def fail_at(self, node: torch.fx.Node, opname: str, reason: str) -> None:
        """Record that `node` cannot be imported: its module path, source line, and the `--keep-module` that
        would keep the module holding it whole (the innermost one, from `nn_module_stack`)."""
        path = self._module_path(node)
        where = f"{path or '<top>'} ({format_loc(frame_loc(node.meta.get('stack_trace')))})"
        keep = keep_module_hint(self.root, node.meta.get("nn_module_stack"))
        self.fail(opname, self._eval_hint(reason, node), where + (f" [--keep-module {keep}]" if keep else ""))

    def _eval_hint(self, reason: str, node: torch.fx.Node) -> str:
        """irc exports an eval-mode copy, so "call model.eval()" helps only a model given in training mode."""
        if "(call model.eval())" not in reason or self.user_training:
            return reason
        stack = list((node.meta.get("nn_module_stack") or {}).values())
        holder = str(stack[-1][1]).rpartition(".")[2] if stack else "the model"
        return reason.replace("(call model.eval())", f"in eval mode: {holder} computes it in training form whatever "
                                                     "the mode (batch statistics at inference, or forced training)")

    # -- emitting ops

    def emit(self, kind: str, operands: list, attrs: dict | None = None, types: list | None = None,
             name: str | None = None, nresults: int | bool | None = None) -> Value | list[Value]:
        """Append nn.KIND; result types from `types` (the node's fake tensors) or the registry. Returns the
        result, or the list of results when there are several or `nresults` is given."""
        op = self.emit_op(kind, operands, attrs, types, name or self.base_name(self.node, kind), self.loc)
        op.scope = self.frames(self.node)
        return op.results if nresults is not None or len(op.results) != 1 else op.results[0]

    def out_type(self, index: int | None = None) -> TensorType:
        val = self.node.meta.get("val")
        if index is not None:
            val = val[index]
        if not is_tensor(val):
            raise Unsupported("no tensor type recorded for this node")
        return tensor_type(val)

    def note_syms(self, value: Value, fake: object) -> None:
        """Remember, for each symbolic size in `fake`, the first value that has it (for expand_like)."""
        if not is_tensor(fake):
            return
        for i, size in enumerate(fake.shape):
            key = sym_key(size)
            if key is not None and key not in self.sym_source:
                self.sym_source[key] = (value, i)

    def result(self, kind: str, operands: list, attrs: dict | None = None, index: int | None = None) -> Value:
        """Emit the op that computes this node's value (result `index` of it), typed from its fake tensor."""
        value = self.emit(kind, operands, attrs, [self.out_type(index)])
        self.note_syms(value, self.node.meta.get("val") if index is None else self.node.meta["val"][index])
        return value

    def constant(self, value: object, dtype: str, shape: tuple = ()) -> Value:
        dense = DenseAttr(value, TensorType(tuple(shape), dtype))
        return self.emit("constant", [], {"value": dense}, name=self.base_name(self.node, "const"))

    def cast(self, value: Value, dtype: str) -> Value:
        if value.type.dtype == dtype:
            return value
        return self.emit("cast", [value], {"dtype": dtype})

    # -- operands

    def operand(self, arg: object, dtype: str | None = None) -> Value:
        """An IR value for an fx argument (cast to `dtype` when given): a parameter (imported on first
        use), an imported node, a folded tensor, or a Python scalar."""
        if isinstance(arg, torch.fx.Node) and arg in self.param_nodes:
            value = self.param(arg)
            return self.cast(value, dtype) if dtype else value
        return self.value(arg, dtype)

    def value(self, arg: object, dtype: str | None = None) -> Value:
        """An IR value for an fx argument: an imported node, a folded tensor, or a Python scalar."""
        if isinstance(arg, torch.fx.Node):
            if arg in self.folded:
                value = self.materialize(arg)
                return self.cast(value, dtype) if dtype else value
            value = self.env.get(arg)
            if isinstance(value, Value):
                return self.cast(value, dtype) if dtype else value
            if value is POISON:
                raise Poisoned()
            raise Unsupported(f"operand {arg.name} is not a tensor")
        if isinstance(arg, bool) and (dtype or "i1") == "i1":
            return self.constant(arg, "i1")
        if isinstance(arg, (int, float)):
            dtype = dtype or ("i64" if isinstance(arg, int) else "f32")
            return self.constant(float(arg) if dtype in FLOAT_DTYPES else int(arg), dtype)
        raise Unsupported(f"operand {arg!r} is not a tensor")

    def materialize(self, node: torch.fx.Node) -> Value:
        """The IR value of a folded node: a dense constant when small, else an `nn.param` of its data."""
        key = ("folded", node)
        if key in self.env:
            return self.env[key]
        t = self.folded[node]
        if not is_tensor(t):
            raise Unsupported(f"operand {node.name} is a Python {type(t).__name__}, not a tensor")
        t = t.detach().contiguous()
        ty = tensor_type(t)
        saved = self.node
        self.node = node
        if t.numel() <= DENSE_MAX and ty.dtype != "i1" and ty.dtype != "bf16":
            dense = DenseAttr(t.tolist(), ty)
            value = self.emit("constant", [], {"value": dense}, name=self.base_name(node, node.name))
        else:
            keyname = self._fresh_key("_folded." + self.base_name(node, node.name))
            self._store(keyname, t)
            value = self.emit("param", [], {"key": keyname}, [ty], name=keyname)
        self.node = saved
        self.env[key] = value
        return value

    def _fresh_key(self, base: str) -> str:
        existing = set(self.ep.state_dict) | set(self.weights.keys())
        key, i = base, 0
        while key in existing:
            i += 1
            key = f"{base}_{i}"
        return key

    def _store(self, key: str, tensor: torch.Tensor) -> None:
        if tensor.is_meta:  # its values are in the checkpoint's store already: check they are the ones meant
            ty = tensor_type(tensor)
            if not self.weights.has(key) or self.weights.type_of(key) != ty:
                held = f"holds {self.weights.type_of(key)}" if self.weights.has(key) else "does not hold it"
                raise IrcError(f"'{key}' ({ty}) is on the meta device and the checkpoint {held}: a tensor the model "
                               "makes on the meta device has no values")
            return
        store_tensor(self.weights, key, tensor)

    def param(self, node: torch.fx.Node) -> Value:
        key, t = self.param_nodes[node]
        value = self.param_values.get(key)
        if value is None:
            saved_loc, self.loc = self.loc, None
            self._store(key, t)
            value = self.emit("param", [], {"key": key}, [tensor_type(t)], name=sanitize(key))
            self.loc = saved_loc
            self.param_values[key] = value
        return value

    # -- the walk

    def run(self) -> Module:
        """Import the whole graph; raise one IrcError listing every node that could not be imported."""
        args, arg_fakes = self._bind_placeholders()
        if self.input_names is not None:
            if len(self.input_names) != len(args):
                raise IrcError(f"{len(self.input_names)} input names for {len(args)} inputs")
            for arg, name in zip(args, self.input_names, strict=True):
                arg.name = sanitize(name)
        self.func = Func("forward", args, [])
        for arg, fake in zip(args, arg_fakes, strict=True):
            self.note_syms(arg, fake)
        self.module = Module(self.name, {}, [self.func], self.weights)
        self._walk()
        self.finish()
        self.func.set_outputs(self.ret_values)
        self.func.result_types = [v.type for v in self.ret_values]
        return self.module

    def _bind_placeholders(self) -> tuple[list, list]:
        """Sort the graph's inputs: user inputs become function arguments, parameters and buffers wait
        for their first use, constants are folded. Returns the arguments and their fake tensors."""
        sig = self.ep.graph_signature
        spec_by_name = {s.arg.name: s for s in sig.input_specs if hasattr(s.arg, "name")}
        sd = self.ep.state_dict
        consts = getattr(self.ep, "constants", {}) or {}
        args, arg_fakes = [], []
        for n in self.ep.graph.nodes:
            if n.op != "placeholder":
                continue
            spec = spec_by_name.get(n.name)
            kind = spec.kind.name if spec is not None else "USER_INPUT"
            if kind == "USER_INPUT":
                val = n.meta.get("val")
                if not is_tensor(val):
                    raise IrcError(f"input {n.name} is not a tensor ({type(val).__name__}); "
                                   "irc imports tensor inputs only")
                arg = Value(sanitize(n.name), tensor_type(val))
                args.append(arg)
                arg_fakes.append(val)
                self.env[n] = arg
            elif kind in ("PARAMETER", "BUFFER"):
                self.param_nodes[n] = (spec.target, sd[spec.target] if spec.target in sd else consts[spec.target])
            elif kind in ("CONSTANT_TENSOR", "CUSTOM_OBJ"):
                t = consts.get(spec.target)
                if not is_tensor(t):
                    raise IrcError(f"the model holds a constant of type {type(t).__name__} ({spec.target}); "
                                   "irc imports tensor constants only")
                self.folded[n] = t
            else:
                raise IrcError(f"cannot import a graph input of kind {kind} ({n.name})")
        return args, arg_fakes

    def _walk(self) -> None:
        nodes = self.ep.graph.nodes
        total = sum(1 for n in nodes if n.op == "call_function")
        done = 0
        for node in nodes:
            done += node.op == "call_function"
            if node.op == "call_function" and done % 100 == 0:
                self.progress(f"lowering to irc IR: {done}/{total} ATen ops")
            if node.op == "output":
                self.node = node
                self.outputs(node, self.ep.graph_signature)
            else:
                self.visit(node, self.ep.graph_module)

    def visit(self, node: torch.fx.Node, owner: torch.nn.Module) -> None:
        """Import one call_function node, or bind a get_attr node (a subgraph of `owner`, for torch.cond)."""
        if node.op == "call_function":
            self.node, self.loc = node, frame_loc(node.meta.get("stack_trace"))
            self.import_node(node)
        elif node.op == "get_attr":
            sub = getattr(owner, str(node.target), None)
            self.env[node] = sub if isinstance(sub, torch.fx.GraphModule) else POISON
            if self.env[node] is POISON:
                self.fail_at(node, "get_attr", "graph attributes other than subgraphs are not supported")

    def outputs(self, node: torch.fx.Node, sig: torch.export.ExportGraphSignature) -> None:
        specs = sig.output_specs
        for i, arg in enumerate(node.args[0]):
            kind = specs[i].kind.name if i < len(specs) else "USER_OUTPUT"
            if kind in ("BUFFER_MUTATION", "USER_INPUT_MUTATION"):
                self.fail_at(node, "output", f"the model mutates {specs[i].target} in forward; irc imports pure "
                             "functions (avoid in-place updates of buffers and inputs)")
            if kind != "USER_OUTPUT":
                continue
            try:
                if not isinstance(arg, torch.fx.Node):
                    raise Unsupported(f"output {i} is a Python {type(arg).__name__}, not a tensor")
                self.ret_values.append(self.operand(arg))
            except Poisoned:
                pass
            except Unsupported as e:
                self.fail_at(node, "output", str(e))

    def import_node(self, node: torch.fx.Node) -> None:
        """Fold the node, or run its handler; a failure poisons what it defines and is recorded."""
        # a value computed from no input and no parameter: compute it now
        if self._foldable(node):
            try:
                self.folded[node] = self._evaluate(node)
                return
            except Exception:
                pass  # import it like any other node
        target = node.target
        val = node.meta.get("val")
        if not is_tensor(val) and not (isinstance(val, (list, tuple)) and any(is_tensor(x) for x in val)):
            # a SymInt / scalar computation (x.shape[0] * 3): only used in shape arguments
            if target not in IMPORTERS or target is operator.getitem:
                self.env[node] = SYMBOLIC
                return
        handler = IMPORTERS.lookup(target)
        if handler is None:
            self.env[node] = POISON
            self.fail_at(node, op_name(target), "no irc importer for this op")
            return
        try:
            self.env[node] = handler(self, node, *node.args, **node.kwargs)
            if self.node_values is not None and isinstance(self.env[node], Value):
                self.node_values[node.name] = self.env[node]
        except Poisoned:
            self.env[node] = POISON
        except Unsupported as e:
            self.env[node] = POISON
            self.fail_at(node, op_name(target), str(e))

    def _foldable(self, node: torch.fx.Node) -> bool:
        if node.target in NEVER_FOLD:
            return False
        if node.target in SHAPE_ONLY:
            val = node.meta.get("val")
            return is_tensor(val) and all(isinstance(d, int) for d in val.shape)
        for arg in node.all_input_nodes:
            if arg in self.folded:
                continue
            if arg.op == "call_function" and self.env.get(arg) is SYMBOLIC:
                if isinstance(arg.meta.get("val"), (int, float, bool)):
                    continue
            return False
        val = node.meta.get("val")
        return is_tensor(val) or isinstance(val, (int, float, bool, list, tuple))

    def _real(self, arg: object) -> object:
        """An argument of a folded node as a real value."""
        if isinstance(arg, torch.fx.Node):
            if arg in self.folded:
                return self.folded[arg]
            val = arg.meta.get("val")
            if is_tensor(val):  # a shape-only op's `self`: only its dtype (and, for *_like, its shape) matter
                dims = [static_dim(d) for d in val.shape]  # never int() a SymInt: that specialises the batch
                return torch.zeros(tuple(dims) if None not in dims else (), dtype=val.dtype)
            return val
        if isinstance(arg, (list, tuple)):
            return type(arg)(self._real(x) for x in arg)
        return arg

    def _evaluate(self, node: torch.fx.Node) -> object:
        args = [self._real(a) for a in node.args]
        kwargs = {k: self._real(v) for k, v in node.kwargs.items()}
        if "device" in kwargs:
            kwargs["device"] = torch.device("cpu")
        with torch.no_grad():
            return node.target(*args, **kwargs)
