"""The PyTorch backend's driver: IR → `model.py` (one readable nn.Module) + `model.safetensors`.

What the emitted file looks like
--------------------------------
- Ops with parameters (conv2d, conv_transpose2d, batch_norm, linear, layer_norm, group_norm, lstm, ...)
  whose weights are `nn.param`s named like a module's state_dict (`P.weight`, `P.bias`, ...) become
  `nn.Conv2d`, `nn.BatchNorm2d`, `nn.Linear`, ... registered at the source's module path P, so the
  emitted `state_dict()` keys equal the param keys (and so the source model's, for an unoptimised
  import). Which ops can be modules, and how, is the family files' `MODULES` table (`modules.py`
  finds the params that form them). Every other op is written with the one op → torch table
  (`EMITTERS`), the same expressions the torch executor runs. Params used any other way (shared
  between different ops, a bare `nn.Parameter` such as ViT's class token, a module with extra
  tensors) are registered as parameters/buffers at their key path and used functionally.
- An op whose params are its own and have flat names, not state_dict paths (ONNX initializers such
  as `onnx::Conv_193`), still becomes a module, at its value name
  (`%layer1.0.conv1` → `self.layer1[0].conv1`), unless that path clashes with another param's. Its
  tensors are then stored under the new keys (recorded in `irc.source_keys`, see below).
- Intermediate paths (`layer1`, `layer1.0`) are plain containers; numbered children (the
  `0`, `1`, ... of an nn.Sequential) are reached by index, `self.layer1[0].conv1`, through a
  five-line `Container` class written into the file when needed.
- `forward` has one line per op, named after the IR values (`%layer1.0.conv1` → `layer1_0_conv1`).
- An op without operands (a constant) is computed once, in `__init__`, into a non-persistent buffer
  (`self.register_buffer("half", torch.full(...), persistent=False)`): built once rather than on every
  call, moved by `model.to(device)` like the weights (a module-level tensor would stay on the CPU),
  and absent from `state_dict()`, so the keys stay exactly the source's.
- `load()` first completes a write that was interrupted (`finish_pending_writes`, the stdlib-only
  twin of `irc.ir.writer.finish_pending_writes`), then loads model.safetensors strictly.

Names and safety
----------------
Nothing from the model reaches model.py unsanitised: every identifier is `[A-Za-z_][A-Za-z0-9_]*`
(ASCII), every string literal is an attribute name of that form or a digit string, comments hold no
model text, and a final `ast` check refuses to write a file that breaks this.

A key path segment that is already a plain ASCII identifier (not a Python keyword, not an nn.Module
attribute such as `forward` or `training`, no leading `__`) or a plain number is kept as is: for every
ordinary model the emitted state_dict keys equal the source's, in the source's order. Any other
segment (`"a; import os"`, `class`, `é`, `模型`, `1abc`, `007`) becomes a sanitised attribute
(`a_import_os`, `class_`, `e`, `u6a21_u578b`, `_1abc`, `_007`); clean siblings keep their names first,
then sanitised ones that collide (`a-b` beside `a_b`, `é` beside `e`) get `_1`, `_2`.

The trade-off between "state_dict keys equal the source's" and "no model text in the code": for a
model with such names the emitted keys are the sanitised ones. model.safetensors is written under the
emitted keys (so `load()` is a plain strict `load_state_dict`), and its `__metadata__` records
`irc.source_keys`, {emitted key: source key} for every renamed tensor, as data; `irc-check` uses it,
and `load_state_dict(source.state_dict())` works after that renaming. Writing the original strings
into the code (`add_module("a; import os", ...)`) would keep the keys equal, but a model author could
then place arbitrary text in a Python file a user will run, and no escaping rule is as easy to audit
as "only [A-Za-z0-9_] ever reaches the file".

Value names become locals the same way (`%layer1.0.conv1` → `layer1_0_conv1`, `%1` → `v1`), never
shadowing a builtin, keyword, `self`, `torch`, `F`, `nn` or a helper (`%sum` → `sum_`), and unique.
"""
from __future__ import annotations

import ast
import builtins
import json
import keyword
import os
import re
from collections.abc import Callable

from ...ir import IrcError, Module, verify
from ...ir.core import Op, TensorType
from ...ir.ops import OPS
from ...ir.structure import flatten, has_calls, outline
from ...ir.weights import StoredTensor, safetensors_header
from ...ir.writer import write_files
from . import template
from .base import HELPERS, MODULES, Ctx, expression, helper_source, torch_dtype_text
from .modules import INPLACE, Node, find_modules, key_prefix, param_op, value_named_modules
from .names import IDENT, Names, attribute_name, class_name, clean_segment, module_attrs, sanitize

# the strings model.py may hold: attribute names, digit strings, float specials, its own file names
_SAFE_STRING = re.compile(r"[A-Za-z0-9_]*\Z|[+-]?inf\Z|nan\Z|model\.safetensors\Z|\.model\.py\.irc-commit\Z"
                          r"|\.\.?\Z|\.tmp\Z")
BUFFER_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")  # bare float tensors kept as buffers


class EmitError(IrcError):
    pass


class _Emitter:
    def __init__(self, module: Module, func=None):
        self.module = module
        self.func = func or module.main
        self.channels_last = False  # load() converts 4-d weights to channels-last (emit_pytorch's option)
        self.reserved_attrs = module_attrs()
        self.renamed: dict[str, str] = {}  # emitted key -> source key, for keys that changed
        self.constants: list[tuple[str, str]] = []  # (attribute, expression) of the buffers built once

    # -- tree

    def _collect_keys(self) -> None:
        keys, types = [], {}
        for op in self.func.ops:
            if op.name == "nn.param":
                k = op.attrs["key"]
                if k not in types:
                    keys.append(k)
                    types[k] = op.result.type
                elif types[k] != op.result.type:
                    raise EmitError(f"param '{sanitize(k)}' is read with two different types")
        self.keys, self.key_types = keys, types

    def build_tree(self) -> None:
        self._collect_keys()
        self.modules = find_modules(self.func, self.keys, self.key_types)
        self.relocate = value_named_modules(self.func, self.modules, self.keys)
        self.root = Node("", "")
        self.key_expr: dict[str, str] = {}  # source key -> expression in forward
        self.module_expr: dict[str, str] = {}  # source prefix -> expression
        self.emitted_key: dict[str, str] = {}  # source key -> emitted state_dict key
        # first the shape of the tree (source segments, in first-use order), then the attribute names,
        # so that a clean name always keeps itself and only unclean ones get suffixes
        tree: dict = {}
        for k in self.keys:
            parts = self.relocate.get(k, k).split(".")
            level = tree
            for i, seg in enumerate(parts):
                level = level.setdefault(seg, {})
                if ".".join(parts[: i + 1]) in self.modules:
                    break
        self.has_digits = False
        self._assign(self.root, tree)
        for k in self.keys:
            self._place(k)
            if self.emitted_key[k] != k:
                self.renamed[self.emitted_key[k]] = k

    def _place(self, key: str) -> None:
        """Hang `key` on the tree: in its nn.* module, or as a bare parameter/buffer."""
        parts = self.relocate.get(key, key).split(".")
        node, expr = self.root, "self"
        for i, seg in enumerate(parts):
            prefix = ".".join(parts[: i + 1])
            node = node.children[seg]
            expr = node.expr(expr)
            if prefix in self.modules:
                node.module = self.modules[prefix]
                self.module_expr[prefix] = expr
                suffix = parts[i + 1]
                self.key_expr[key] = f"{expr}.{suffix}"
                self.emitted_key[key] = f"{node.key_path}.{suffix}"
                return
        if node.children:
            raise EmitError(f"param key '{sanitize(key)}' is also the path of other params")
        t = self.key_types[key]
        node.tensor = (t, not t.dtype.startswith(("f", "bf")) or parts[-1] in BUFFER_SUFFIXES)
        self.key_expr[key] = expr
        self.emitted_key[key] = node.key_path

    def _assign(self, parent: Node, level: dict) -> None:
        clean = {seg for seg in level if clean_segment(seg, self.reserved_attrs)}
        taken = set(clean)
        for seg, sub in level.items():
            attr = seg if seg in clean else attribute_name(seg, self.reserved_attrs, taken)
            if attr.isdigit():
                self.has_digits = True
            child = Node(attr, attr if not parent.key_path else f"{parent.key_path}.{attr}")
            parent.children[seg] = child
            self._assign(child, sub)

    def _constant(self, op) -> str:
        """A buffer built once in __init__ for an op without operands; returns its expression."""
        taken = {child.attr for child in self.root.children.values()} | {attr for attr, _ in self.constants}
        attr = attribute_name(op.result.name, self.reserved_attrs, taken)
        self.constants.append((attr, expression(Ctx([]), op)))
        return f"self.{attr}"

    # -- forward

    def _forward(self, names: Names, val: dict[int, str]) -> tuple[list[str], set[str]]:
        """forward's lines (one per op, then `del`s and the return) and the helpers they call."""
        lines, helpers = [], set()
        reads, local = [], []  # per line the names it reads; the locals forward assigns, in order
        steps = []  # per line: (op, the names it reads, the names it assigns, whether its result is a new tensor)
        for op in self.func.ops:
            if op.name == "nn.param":
                val[id(op.result)] = self.key_expr[op.attrs["key"]]
                continue
            if not op.operands and len(op.results) == 1:
                val[id(op.result)] = self._constant(op)
                continue
            operands = [val[id(v)] for v in op.operands]
            ctx = Ctx(operands)
            prefix = self._module_prefix(op)
            form = MODULES.lookup(op.name) if prefix is not None else None
            expr = self.call_expression(op, operands)
            if expr is None:
                expr = form.call(ctx, op, self.module_expr[prefix]) if form else expression(ctx, op)
            helpers |= ctx.helpers
            if len(op.results) == 1 and expr == operands[0]:  # identity, dropout: no line
                val[id(op.result)] = expr
                continue
            outs = [names.claim(r.name, unused=not r.uses) for r in op.results]
            for r, n in zip(op.results, outs, strict=True):
                val[id(r)] = n
            lines.append(f"{_targets(op, outs, form)} = {expr}")
            reads.append(operands)
            local.extend(outs)
            steps.append((op, operands, outs, form is not None or _fresh(op, expr, operands)))
        rets = [val[id(v)] for v in self.func.outputs]
        lines = _in_place(lines, steps, set(rets))
        lines = _free_dead(lines, reads, local, rets)
        lines.append("return " + (", ".join(rets) if rets else "None"))
        return lines, helpers

    def call_expression(self, op: Op, operands: list[str]) -> str | None:
        """How forward runs an `nn.call` (irc/backend/pytorch/blocks.py); None for every other op."""
        return None

    def _module_prefix(self, op) -> str | None:
        if MODULES.lookup(op.name) is None or len(op.operands) < 2:
            return None
        p = param_op(op.operands[1])
        if p is None:
            return None
        pre = key_prefix(self.relocate.get(p.attrs["key"], p.attrs["key"]))
        return pre if pre in self.modules and self.modules[pre].op.name == op.name else None

    # -- the file

    def body(self, reserved: set[str]) -> tuple[list[str], list[str], list[str], set[str]]:
        """The class's parts: (init lines, forward lines, forward's argument names, helpers used)."""
        self.build_tree()
        names = Names(reserved)
        val: dict[int, str] = {}
        args = []
        for a in self.func.args:
            val[id(a)] = names.claim(a.name)
            args.append(val[id(a)])
        lines, helpers = self._forward(names, val)
        init: list[str] = []
        self._init_lines(self.root, "self", init, template.CONTAINER if self.has_digits else "nn.Module")
        init += [f'self.register_buffer("{attr}", {expr}, persistent=False)' for attr, expr in self.constants]
        return init, lines, args, helpers

    def emit(self) -> str:
        cls = class_name(self.module.name)
        if cls in RESERVED | {template.CONTAINER}:
            cls += "Model"
        self.cls = cls
        init, lines, args, helpers = self.body(RESERVED | {cls, template.CONTAINER})
        out = [template.header(cls, sanitize(self.module.name), any("F." in ln for ln in lines + init) or helpers)]
        if helpers:
            out.append("\n\n" + helper_source(helpers).rstrip("\n") + "\n")
        if self.has_digits:
            out.append(template.container())
        base = template.CONTAINER if any(c.attr.isdigit() for c in self.root.children.values()) else "nn.Module"
        out.append(f"\n\nclass {cls}({base}):\n    def __init__(self):\n        super().__init__()\n")
        out.extend(f"        {ln}\n" for ln in init)
        out.append(f"\n    def forward(self, {', '.join(args)}):\n" if args else "\n    def forward(self):\n")
        out.extend(f"        {ln}\n" for ln in lines)
        out.append(template.example_inputs(self.func.args))
        out.append(template.load(cls, self.channels_last))
        source = "".join(out)
        _check_safe(source)
        return source

    def _init_lines(self, node: Node, expr: str, out: list[str], container: str) -> None:
        for child in node.children.values():
            cexpr = child.expr(expr)
            if child.block is not None:
                out.append(f"{cexpr} = {child.block}")
            elif child.module is not None:
                out.append(f"{cexpr} = {child.module.ctor}")
            elif child.tensor is not None:
                t, is_buffer = child.tensor
                shape = ", ".join(str(d) for d in t.shape)
                dtype = "" if t.dtype == "f32" else f", dtype={torch_dtype_text(t.dtype)}"
                empty = f"torch.empty(({shape}{',' if len(t.shape) == 1 else ''}){dtype})"
                if is_buffer:
                    out.append(f'{expr}.register_buffer("{child.attr}", {empty})')
                else:
                    out.append(f"{cexpr} = nn.Parameter({empty})")
            else:
                out.append(f"{cexpr} = {container}()")
                self._init_lines(child, cexpr, out, container)

    # -- weights

    def weight_entries(self) -> list[tuple]:
        """[(emitted key, dtype, shape, bytes or StoredTensor)] sorted by key: exactly the emitted state_dict."""
        store = self.module.weights
        entries = {}
        for k in self.keys:
            t = self.key_types[k]
            if store is None or not store.has(k):
                raise EmitError(f"param '{sanitize(k)}' is missing from the weight file")
            entries[self.emitted_key[k]] = (t.dtype, list(t.shape), StoredTensor(store, k))
        for spec in self.modules.values():
            for suffix, key in spec.state:
                if key is None:  # a counter the IR did not keep: a fresh zero
                    entries[f"{self._emitted_prefix(spec)}.{suffix}"] = ("i64", [], bytes(8))
        return [(k, *entries[k]) for k in sorted(entries)]

    def _emitted_prefix(self, spec) -> str:
        k = next(key for _, key in spec.state if key is not None)
        return self.emitted_key[k].rsplit(".", 1)[0]


RESERVED = (set(dir(builtins)) | set(keyword.kwlist) | set(HELPERS)
            | {"self", "torch", "F", "nn", "os", "json", "load", "finish_pending_writes"})


def _structured(module: Module, flat: _Emitter) -> str:
    """model.py with one class per distinct block (irc/backend/pytorch/blocks.py), the top class named as the
    flat one; raises Unstructurable when the blocks cannot be written."""
    from . import blocks

    # one function per set of sizes: each class's constructors are written from its own sizes, and the classes
    # of a source class are then merged with the sizes as arguments
    module = outline(flatten(module, copy=True), generic=False)
    reserved = RESERVED | {flat.cls, template.CONTAINER}
    classes = blocks.Classes(module, reserved)
    classes.build()
    top = classes.emitter(module, module.main, classes.blocks)
    init, lines, args, helpers = top.body(reserved | classes.class_names)
    helpers |= classes.helpers
    base = template.CONTAINER if any(c.attr.isdigit() for c in top.root.children.values()) else "nn.Module"
    body = classes.texts + [blocks._render(flat.cls, base, init, lines, args)]
    code = "\n\n".join(body)
    out = [template.header(flat.cls, sanitize(module.name), "F." in code or bool(helpers), "OrderedDict(" in code)]
    if helpers:
        out.append("\n\n" + helper_source(helpers).rstrip("\n") + "\n")
    if "Container" in code:
        out.append(template.container())
    out.append("\n\n" + "\n\n".join(body))
    out.append(template.example_inputs(module.main.args))
    out.append(template.load(flat.cls, flat.channels_last))
    source = "".join(out)
    _check_safe(source)
    return source


def _targets(op, outs: list[str], form) -> str:
    """The assignment's left side: a module form's pattern, or the names (a one-element tuple for an
    op whose number of results follows its attributes, such as a split into one piece)."""
    if form is not None:
        return form.targets(outs)
    several = callable(OPS[op.name].num_results) and op.name != "nn.call"  # a call returns what its callee does
    return ", ".join(outs) + ("," if len(outs) == 1 and several else "")


def _fresh(op: Op, expr: str, operands: list[str]) -> bool:
    """Whether the line computing `op` as `expr` makes a new tensor (never a view of an operand): an
    element-wise op or a weighted sum written as a function call or an operator (`x.to(...)` may return x)."""
    opdef = OPS[op.name]
    return len(op.results) == 1 and (opdef.has("elementwise") or opdef.has("channel_weights")) \
        and not any(expr.startswith(name + ".") for name in operands)


def _in_place(lines: list[str], steps: list[tuple], keep: set[str]) -> list[str]:
    """`lines` with an op computed in place (`F.relu(x, inplace=True)`, `a.add_(b)`) where the operand it
    updates dies there: a local no later line reads, not returned, that only new-tensor lines made and no
    line may have viewed (so no other name shares its memory), of the result's type.

    The source's ReLU(inplace=True) and `out += identity` reuse a buffer this way; a new one per op makes the
    allocator hand out (and the caches miss on) fresh memory: ResNet50 at batch 8, 5 % of its time."""
    last = {name: i for i, (_, names, _, _) in enumerate(steps) for name in names}
    exclusive: set[str] = set()  # locals whose memory no other live name shares
    out = list(lines)
    for i, (op, names, outs, fresh) in enumerate(steps):
        form = INPLACE.lookup(op.name) if len(outs) == 1 else None
        expr = None
        for k, name in enumerate(names if form is not None else ()):
            if name in exclusive and last[name] == i and name not in keep and names.count(name) == 1 \
                    and _fits(op.operands[k].type, op):
                expr = form(op, names, k)
                if expr is not None:
                    break
        if expr is not None:
            out[i] = f"{outs[0]} = {expr}"
            exclusive.add(outs[0])
        elif fresh:
            exclusive.update(outs)
        else:
            exclusive.difference_update(names)  # the line may return a view of what it reads
    return out


def _fits(updated: TensorType, op: Op) -> bool:
    """Whether an operand of type `updated` can hold `op`'s result: the same type, and no broadcast can make
    the result larger (static dims, or every operand of the result's type)."""
    result = op.result.type
    same = updated.dtype == result.dtype and tuple(updated.shape) == tuple(result.shape)
    return same and (all(d is not None for d in result.shape)
                     or all(v.type.dtype == result.dtype and tuple(v.type.shape) == tuple(result.shape)
                            for v in op.operands))


def _free_dead(lines: list[str], reads: list, local: list[str], keep: list[str]) -> list[str]:
    """`lines` with `del a, b` after the last line that reads each local (not the returned ones).

    As torch.fx's generated code does: a forward that keeps every activation alive until it returns
    makes the allocator map fresh memory on every call (ResNet50 at batch 1: 1.5x the source's time)."""
    order = {n: i for i, n in enumerate(local)}
    last = {}
    for i, names in enumerate(reads):
        for n in names:
            if n in order:
                last[n] = i
    dead: dict[int, list] = {}
    for n, i in last.items():
        if n not in keep:
            dead.setdefault(i, []).append(n)
    out = []
    for i, ln in enumerate(lines):
        out.append(ln)
        names = sorted(dead.get(i, ()), key=order.get)
        while names:  # short lines: at most 8 names per del
            out.append("del " + ", ".join(names[:8]))
            names = names[8:]
    return out


def _check_safe(source: str) -> None:
    """Refuse to write a file whose identifiers or strings could carry model text (belt and braces)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                not _SAFE_STRING.match(node.value) and not _is_docstring(tree, node):
            raise EmitError(f"internal error: unsafe string literal {node.value!r} in emitted code")
        for field in ("id", "attr", "name", "arg"):
            v = getattr(node, field, None)
            parts = v.split(".") if isinstance(v, str) and isinstance(node, ast.alias) else [v]
            if isinstance(v, str) and not all(IDENT.match(x) for x in parts):
                raise EmitError(f"internal error: unsafe identifier {v!r} in emitted code")


def _is_docstring(tree: ast.AST, node: ast.AST) -> bool:
    for n in ast.walk(tree):
        if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Module)) and n.body:
            first = n.body[0]
            if isinstance(first, ast.Expr) and first.value is node:
                return True
    return False


def _check_targets(module: Module, out_dir: str, paths: list[str]) -> None:
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise EmitError(f"{out_dir} exists and is not a directory (-o names the directory to write into)")
    for p in paths:
        if module.path and os.path.exists(p) and os.path.samefile(p, module.path):
            raise EmitError(f"refusing to overwrite the input file {p}")
        for w in module.weights.paths() if module.weights is not None else ():
            if os.path.exists(p) and os.path.exists(w) and os.path.samefile(p, w):
                raise EmitError(f"refusing to overwrite the weight file being read: {p}")


def _weights_writer(entries: list[tuple], renamed: dict[str, str]) -> Callable:
    """write(f) for model.safetensors holding `entries`, with `irc.source_keys` when keys were renamed."""
    metadata = {"irc.source_keys": json.dumps(renamed, sort_keys=True)} if renamed else None
    blob = safetensors_header([(key, dtype, shape) for key, dtype, shape, _ in entries], metadata)

    def write(out) -> None:
        out.write(blob)
        for *_, data in entries:  # tensors still in their files are copied file to file (a checkpoint > memory)
            data.write_to(out) if isinstance(data, StoredTensor) else out.write(data)

    return write


def emit_pytorch(module: Module, out_dir: str, progress: Callable[[str], None] | None = None,
                 channels_last: bool = False) -> dict:
    """Write `out_dir/model.py` and `out_dir/model.safetensors` for `module`; return what was written ({"model.py":
    path, "model.safetensors": path, "class": name, ...}). `progress`: optional callable(str) told about the steps.
    `channels_last`: `load()` puts 4-d weights channels-last (faster CPU convolutions, within the pass rule)."""
    progress = progress or (lambda msg: None)
    progress("verifying")
    verify(module)
    progress("generating model.py")
    emitter = _Emitter(flatten(module))
    emitter.channels_last = channels_last
    source = emitter.emit()
    entries = emitter.weight_entries()
    if has_calls(module) and not emitter.renamed:
        from .blocks import Unstructurable

        try:
            source = _structured(module, emitter)
        except Unstructurable:
            pass  # written flat
    py_path = os.path.join(out_dir, "model.py")
    st_path = os.path.join(out_dir, "model.safetensors")
    _check_targets(module, out_dir, [py_path, st_path])
    os.makedirs(out_dir, exist_ok=True)
    nbytes = sum(len(data) for *_, data in entries)
    progress(f"writing model.safetensors ({nbytes / 1e6:.0f} MB)")
    # one unit (irc.ir.writer): a failure leaves the directory as it was, and a reader never sees new
    # weights beside an old model.py; model.py goes last, as it is the file readers open first
    write_files([(st_path, _weights_writer(entries, emitter.renamed)),
                 (py_path, lambda out: out.write(source.encode("utf-8")))],
                inputs=[module.path, *(module.weights.paths() if module.weights is not None else ())])
    return {"model.py": py_path, "model.safetensors": st_path, "class": emitter.cls,
            "modules": len(emitter.modules), "renamed": len(emitter.renamed), "params": len(entries),
            "bytes": nbytes}
