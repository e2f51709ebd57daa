"""The PyTorch backend: IR → `model.py` (one readable nn.Module) + `model.safetensors`.

What the emitted file looks like
--------------------------------
- Ops with parameters (conv2d, conv_transpose2d, batch_norm, linear, layer_norm, group_norm) whose
  weights are `nn.param`s named like a module's state_dict (`P.weight`, `P.bias`, ...) become
  `nn.Conv2d`, `nn.BatchNorm2d`, `nn.Linear`, ... registered at the source's module path P, so the
  emitted `state_dict()` keys equal the param keys (and so the source model's, for an unoptimised
  import). Every other op is written with the one op → torch table (`irc.backend.torchops`), the same
  expressions the torch executor runs. Params used any other way (shared between different ops, a
  bare `nn.Parameter` such as ViT's class token, a module with extra tensors) are registered as
  parameters/buffers at their key path and used functionally.
- An op whose params are its own and have flat names, not state_dict paths (ONNX initializers such
  as `onnx::Conv_193`), still becomes a module, at its value name
  (`%layer1.0.conv1` → `self.layer1[0].conv1`), unless that path clashes with another param's. Its
  tensors are then stored under the new keys (recorded in `irc.source_keys`, see below).
- Intermediate paths (`layer1`, `layer1.0`) are plain containers; numbered children (the
  `0`, `1`, ... of an nn.Sequential) are reached by index, `self.layer1[0].conv1`, through a
  five-line `Container` class written into the file when needed.
- `forward` has one line per op, named after the IR values (`%layer1.0.conv1` → `layer1_0_conv1`).

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
import struct
import tempfile
import unicodedata

from ..ir import IrcError, Module, verify
from ..ir.core import Op, TensorType, uniquify
from ..ir.weights import IR_TO_ST, ITEMSIZE

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SAFE_STRING = re.compile(r"[A-Za-z0-9_]*\Z|[+-]?inf\Z|nan\Z|model\.safetensors\Z")
MODULE_OPS = ("conv2d", "conv_transpose2d", "batch_norm", "linear", "layer_norm", "group_norm", "lstm", "gru", "rnn")
RECURRENT = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}
FILE_NAMES = ("model.py", "model.safetensors")


class EmitError(IrcError):
    pass


# ----------------------------------------------------------------------------- names


def sanitize(name: str, digit_prefix: str = "_") -> str:
    """Any string → an ASCII Python identifier that keeps what it can of the name.

    Accents are dropped (é → e), other non-ASCII letters become uXXXX, every run of other characters
    one `_`; a leading digit gets `digit_prefix`; a keyword gets a trailing `_`.
    """
    out = []
    for ch in unicodedata.normalize("NFKD", name):
        if ch.isascii():
            out.append(ch if (ch.isalnum() or ch == "_") else "_")
        elif unicodedata.combining(ch):
            continue
        else:
            out.append(f"_u{ord(ch):04x}_")
    s = re.sub(r"_+", "_", "".join(out))
    if s not in ("_",):
        s = s.strip("_") if not name.startswith("_") else "_" + s.strip("_")
    s = s.rstrip("_") or "v"
    if s[0].isdigit():
        s = digit_prefix + s
    if keyword.iskeyword(s) or keyword.issoftkeyword(s):
        s += "_"
    return s


def class_name(name: str) -> str:
    """`resnet50` → `Resnet50`, `tiny_yolo-v2` → `TinyYoloV2`."""
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", sanitize(name)) if p]
    s = "".join(p[0].upper() + p[1:] for p in parts) or "Model"
    return "Model" + s if s[0].isdigit() else s


def _module_attrs() -> set:
    from torch import nn

    return set(dir(nn.Module())) | {"forward", "training"}  # an instance: `training` etc. are set in __init__


def _clean_segment(seg: str, reserved: set) -> bool:
    if seg.isascii() and seg.isdigit():
        return seg == str(int(seg))
    return (seg.isascii() and bool(_IDENT.match(seg)) and not keyword.iskeyword(seg) and not seg.startswith("__")
            and seg not in reserved)


class Names:
    """Collision-free local names: `sanitize`, then `_1`, `_2`, ... past anything taken or reserved."""

    def __init__(self, reserved):
        self.reserved = set(reserved)
        self.taken = set(reserved)

    def claim(self, raw: str, unused: bool = False) -> str:
        base = sanitize(raw, "v")
        if base in self.reserved:
            base += "_"
        if unused and not base.startswith("_"):
            base = "_" + base  # a result nobody reads (one of several results): ruff's dummy-variable form
        return uniquify(base, self.taken)


# ----------------------------------------------------------------------------- the module tree


class Node:
    """A point on a state_dict path: a container, an nn.* module, or one tensor."""

    def __init__(self, attr, key_path):
        self.attr = attr  # attribute name under the parent ("0" for numbered children)
        self.key_path = key_path  # the emitted path ("layer1.0.conv1")
        self.children: dict[str, Node] = {}  # source segment -> Node, in first-use order
        self.module = None  # ModuleSpec for an nn.* module
        self.tensor = None  # (TensorType, is_buffer) for a bare parameter/buffer

    def expr(self, parent_expr: str) -> str:
        if self.attr.isdigit():
            return f"{parent_expr}[{self.attr}]"
        return f"{parent_expr}.{self.attr}"


class ModuleSpec:
    def __init__(self, op: Op, prefix: str, ctor: str, state: list[tuple[str, str]]):
        self.op = op  # the first op that calls it
        self.prefix = prefix  # the source path
        self.ctor = ctor  # "nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)"
        self.state = state  # [(emitted suffix, source key or None for num_batches_tracked)]


_SUFFIXES = {
    "conv2d": ("weight", "bias"),
    "conv_transpose2d": ("weight", "bias"),
    "linear": ("weight", "bias"),
    "layer_norm": ("weight", "bias"),
    "group_norm": ("weight", "bias"),
    "batch_norm": ("weight", "bias", "running_mean", "running_var"),
}


def _suffixes(op) -> tuple:
    """The state_dict suffixes of an op's param operands 1, 2, ... (a recurrent op's follow its attributes)."""
    if op.kind in RECURRENT:
        from ..ir.ops.recurrent import weight_names

        a = op.attrs
        return tuple(weight_names(a.get("num_layers", 1), a.get("bidirectional", False), a.get("bias", True)))
    return _SUFFIXES[op.kind]


def _pair(v):
    v = list(v)
    return str(v[0]) if len(v) == 2 and v[0] == v[1] else f"({', '.join(str(x) for x in v)})"


def _kw(items):
    return "".join(f", {k}={v}" for k, v in items if v is not None)


def _dtype_kw(dtype):
    from .torchops import TORCH_DTYPE

    return None if dtype == "f32" else TORCH_DTYPE[dtype]


def _module_ctor(op: Op, params: list) -> str | None:
    """The nn.* constructor for `op` with param operands `params` (TensorTypes or None), or None if the
    op cannot be a module call that computes exactly the executor's expression."""
    a, kind = op.attrs, op.kind
    layout = a.get("layout", "nchw")
    w = params[0]
    if w is None or not w.dtype.startswith(("f", "bf")) or any(p is not None and p.dtype != w.dtype for p in params):
        return None
    dt = _dtype_kw(w.dtype)
    if kind in ("conv2d", "conv_transpose2d"):
        if layout != "nchw" or w.rank != 4 or not w.is_static:
            return None
        (t, b), (left, r) = a["padding"]
        g = a["groups"]
        if kind == "conv2d":
            cin, cout = w.shape[1] * g, w.shape[0]
            pad = _pair([t, left]) if (t == b and left == r) else None
            return (f"nn.Conv2d({cin}, {cout}, {_pair(w.shape[2:])}"
                    + _kw([("stride", None if a["stride"] == [1, 1] else _pair(a["stride"])),
                           ("padding", None if pad == "0" else pad),
                           ("dilation", None if a["dilation"] == [1, 1] else _pair(a["dilation"])),
                           ("groups", None if g == 1 else g),
                           ("bias", None if params[1] is not None else False), ("dtype", dt)]) + ")")
        if not (t == b and left == r):
            return None
        cin, cout = w.shape[0], w.shape[1] * g
        return (f"nn.ConvTranspose2d({cin}, {cout}, {_pair(w.shape[2:])}"
                + _kw([("stride", None if a["stride"] == [1, 1] else _pair(a["stride"])),
                       ("padding", None if [t, left] == [0, 0] else _pair([t, left])),
                       ("output_padding", None if a["output_padding"] == [0, 0] else _pair(a["output_padding"])),
                       ("groups", None if g == 1 else g),
                       ("bias", None if params[1] is not None else False),
                       ("dilation", None if a["dilation"] == [1, 1] else _pair(a["dilation"])), ("dtype", dt)]) + ")")
    if kind == "linear":
        if w.rank != 2 or not w.is_static:
            return None
        return (f"nn.Linear({w.shape[1]}, {w.shape[0]}"
                + _kw([("bias", None if params[1] is not None else False), ("dtype", dt)]) + ")")
    if kind in RECURRENT:
        if w.rank != 2 or not w.is_static:
            return None
        return (f"nn.{RECURRENT[kind]}({w.shape[1]}, {a['hidden_size']}"
                + _kw([("num_layers", None if a.get("num_layers", 1) == 1 else a["num_layers"]),
                       ("nonlinearity", "'relu'" if a.get("nonlinearity") == "relu" else None),
                       ("bias", None if a.get("bias", True) else False),
                       ("batch_first", True if a.get("batch_first") else None),
                       ("bidirectional", True if a.get("bidirectional") else None), ("dtype", dt)]) + ")")
    eps = a.get("epsilon")
    eps_kw = ("eps", None if eps == 1e-05 else repr(float(eps)))
    if kind == "batch_norm":
        rank = op.operands[0].type.rank
        if layout == "nhwc" and rank != 4:
            return None
        cls = {2: "BatchNorm1d", 3: "BatchNorm1d", 4: "BatchNorm2d", 5: "BatchNorm3d"}.get(rank)
        if cls is None or w.rank != 1 or any(p is None for p in params):
            return None
        return f"nn.{cls}({w.shape[0]}" + _kw([eps_kw, ("dtype", dt)]) + ")"
    if kind == "layer_norm":
        x = op.operands[0].type
        axes = sorted(ax % x.rank for ax in a["axes"])
        if axes != list(range(x.rank - len(axes), x.rank)) or list(w.shape) != [x.shape[i] for i in axes]:
            return None
        shape = str(w.shape[0]) if w.rank == 1 else f"({', '.join(str(d) for d in w.shape)})"
        return (f"nn.LayerNorm({shape}"
                + _kw([eps_kw, ("bias", None if params[1] is not None else False), ("dtype", dt)]) + ")")
    if kind == "group_norm":
        if any(p is None for p in params) or w.rank != 1:
            return None
        return f"nn.GroupNorm({a['num_groups']}, {w.shape[0]}" + _kw([eps_kw, ("dtype", dt)]) + ")"
    return None


def _param_op(v):
    return v.owner if v.owner is not None and v.owner.name == "nn.param" else None


def _find_modules(func, keys_in_order, key_types) -> dict[str, ModuleSpec]:
    """Source path → ModuleSpec for every group of params that can live in one nn.* module."""
    candidates: dict[str, list] = {}
    rejected: set[str] = set()
    for op in func.ops:
        if op.kind not in MODULE_OPS:
            continue
        suffixes = _suffixes(op)
        slots = list(range(1, 1 + len(suffixes)))
        keys, types, prefix, ok = [], [], None, True
        for slot, suffix in zip(slots, suffixes):
            if slot >= len(op.operands) or op.operands[slot] is None:
                keys.append(None)
                types.append(None)
                continue
            p = _param_op(op.operands[slot])
            if p is None:
                ok = False
                break
            key = p.attrs["key"]
            if not key.endswith("." + suffix):
                ok = False
                break
            pre = key[: -len(suffix) - 1]
            if prefix is not None and pre != prefix:
                ok = False
                break
            prefix = pre
            keys.append(key)
            types.append(p.result.type)
        if not ok or prefix is None:
            for slot in slots:
                if slot < len(op.operands) and _param_op(op.operands[slot]):
                    k = _param_op(op.operands[slot]).attrs["key"]
                    rejected.add(k.rsplit(".", 1)[0] if "." in k else k)
            continue
        ctor = _module_ctor(op, types)
        if ctor is None:
            rejected.add(prefix)
            continue
        candidates.setdefault(prefix, []).append((op, tuple(keys), ctor))

    by_prefix: dict[str, list[str]] = {}
    for k in keys_in_order:
        parts = k.split(".")
        for i in range(1, len(parts)):
            by_prefix.setdefault(".".join(parts[:i]), []).append(k)
    modules = {}
    for prefix, uses in candidates.items():
        op0, keys0, ctor0 = uses[0]
        if prefix in rejected or prefix in keys_in_order:
            continue
        if any((op.name, op.attrs, keys, ctor) != (op0.name, op0.attrs, keys0, ctor0) for op, keys, ctor in uses):
            continue
        owned = {k for k in keys0 if k is not None}
        counter = f"{prefix}.num_batches_tracked"  # BatchNorm's counter, if the IR kept it
        has_counter = (op0.kind == "batch_norm" and counter in key_types
                       and key_types[counter] == TensorType((), "i64"))
        if has_counter:
            owned.add(counter)
        if set(by_prefix.get(prefix, ())) != owned:
            continue  # the path holds other tensors or submodules too
        group_ops = {id(op) for op, _, _ in uses}
        ok = True
        for op, _, _ in uses:
            for slot in range(1, len(op.operands)):
                pop = _param_op(op.operands[slot])
                if pop is None:
                    continue
                for user in op.operands[slot].uses:
                    if id(user) not in group_ops or [i for i, v in enumerate(user.operands)
                                                     if v is op.operands[slot]] != [slot]:
                        ok = False
        # every nn.param op of these keys must feed this group only
        if not ok:
            continue
        suffixes = _suffixes(op0)
        state = [(s, k) for s, k in zip(suffixes, keys0) if k is not None]
        if op0.kind == "batch_norm":
            state.append(("num_batches_tracked", counter if has_counter else None))
        modules[prefix] = ModuleSpec(op0, prefix, ctor0, state)
    # a param op of an owned key that nobody in the group uses (a duplicate nn.param of the same key
    # feeding something else) makes the module unusable
    for op in func.ops:
        if op.name == "nn.param":
            key = op.attrs["key"]
            pre = key.rsplit(".", 1)[0] if "." in key else None
            if pre in modules:
                spec = modules[pre]
                group = [u for u in op.result.uses]
                if any(u.kind != spec.op.kind or u.attrs != spec.op.attrs for u in group):
                    del modules[pre]
    return modules


def _value_named_modules(func, modules, keys_in_order, key_types) -> dict[str, str]:
    """Modules for ops whose params have flat names, not state_dict paths (ONNX initializers such as
    `onnx::Conv_193`): when every param of the op is read by this op alone,
    the module goes at the op's value name (`%layer1.0.conv1` → `self.layer1[0].conv1`) and its
    tensors are relocated there. Adds to `modules`; returns {IR key: relocated key}."""
    readers: dict[str, int] = {}
    for op in func.ops:
        if op.name == "nn.param":
            readers[op.attrs["key"]] = readers.get(op.attrs["key"], 0) + 1
    taken_keys = set(keys_in_order)  # paths in use: every key, and every module path
    module_paths = set(modules)
    relocate: dict[str, str] = {}
    for op in func.ops:
        if op.kind not in MODULE_OPS or len(op.operands) < 2:
            continue
        w = _param_op(op.operands[1])
        if w is None or _module_key_prefix(w.attrs["key"]) in modules:
            continue
        suffixes = _suffixes(op)
        keys, types, ok = [], [], True
        for slot in range(1, 1 + len(suffixes)):
            v = op.operands[slot] if slot < len(op.operands) else None
            if v is None:
                keys.append(None)
                types.append(None)
                continue
            p = _param_op(v)
            # a dotted key is already a state_dict path (ViT's `...self_attention.in_proj_weight`): it
            # stays where the source had it; only flat names (ONNX initializers) move
            if p is None or len(v.uses) != 1 or readers.get(p.attrs["key"]) != 1 or p.attrs["key"] in relocate \
                    or "." in p.attrs["key"]:
                ok = False
                break
            keys.append(p.attrs["key"])
            types.append(p.result.type)
        if not ok:
            continue
        ctor = _module_ctor(op, types)
        path = ".".join(seg for seg in op.result.name.split(".") if seg)
        if ctor is None or not path:
            continue
        own = {k for k in keys if k is not None}
        new = {f"{path}.{s}" for s, k in zip(suffixes, keys) if k is not None}
        others = taken_keys - own
        if path in others or path in module_paths or any(
                k.startswith(path + ".") or path.startswith(k + ".") or k in new for k in others) or any(
                m.startswith(path + ".") or path.startswith(m + ".") for m in module_paths):
            continue
        state = [(sfx, k) for sfx, k in zip(suffixes, keys) if k is not None]
        if op.kind == "batch_norm":
            state.append(("num_batches_tracked", None))
        modules[path] = ModuleSpec(op, path, ctor, state)
        module_paths.add(path)
        for sfx, k in zip(suffixes, keys):
            if k is not None:
                relocate[k] = f"{path}.{sfx}"
        taken_keys = (taken_keys - own) | new
    return relocate


def _module_key_prefix(key: str):
    return key.rsplit(".", 1)[0] if "." in key else None


# ----------------------------------------------------------------------------- emitting


class _Emitter:
    def __init__(self, module: Module):
        from .torchops import HELPERS

        self.module = module
        self.func = module.main
        self.helpers = HELPERS
        self.reserved_attrs = _module_attrs()
        self.renamed: dict[str, str] = {}  # emitted key -> source key, for keys that changed

    # -- tree

    def build_tree(self):
        func = self.func
        keys = []
        types = {}
        for op in func.ops:
            if op.name == "nn.param":
                k = op.attrs["key"]
                if k not in types:
                    keys.append(k)
                    types[k] = op.result.type
                elif types[k] != op.result.type:
                    raise EmitError(f"param '{sanitize(k)}' is read with two different types")
        self.keys, self.key_types = keys, types
        self.modules = _find_modules(func, keys, types)
        self.relocate = _value_named_modules(func, self.modules, keys, types)
        self.root = Node("", "")
        self.key_expr: dict[str, str] = {}  # source key -> expression in forward
        self.module_expr: dict[str, str] = {}  # source prefix -> expression
        self.emitted_key: dict[str, str] = {}  # source key -> emitted state_dict key
        # first the shape of the tree (source segments, in first-use order), then the attribute names,
        # so that a clean name always keeps itself and only unclean ones get suffixes
        tree: dict = {}
        for k in keys:
            parts = self.relocate.get(k, k).split(".")
            level = tree
            for i, seg in enumerate(parts):
                level = level.setdefault(seg, {})
                if ".".join(parts[: i + 1]) in self.modules:
                    break
        self.has_digits = False
        self._assign(self.root, tree)
        for k in keys:
            parts = self.relocate.get(k, k).split(".")
            node, expr = self.root, "self"
            for i, seg in enumerate(parts):
                prefix = ".".join(parts[: i + 1])
                node = node.children[seg]
                expr = node.expr(expr)
                if prefix in self.modules:
                    node.module = self.modules[prefix]
                    self.module_expr[prefix] = expr
                    suffix = parts[i + 1]
                    self.key_expr[k] = f"{expr}.{suffix}"
                    self.emitted_key[k] = f"{node.key_path}.{suffix}"
                    break
            else:
                if node.children:
                    raise EmitError(f"param key '{sanitize(k)}' is also the path of other params")
                t = types[k]
                is_buffer = not t.dtype.startswith(("f", "bf")) or parts[-1] in (
                    "running_mean", "running_var", "num_batches_tracked")
                node.tensor = (t, is_buffer)
                self.key_expr[k] = expr
                self.emitted_key[k] = node.key_path
            if self.emitted_key[k] != k:
                self.renamed[self.emitted_key[k]] = k

    def _assign(self, parent: Node, level: dict):
        clean = {seg for seg in level if _clean_segment(seg, self.reserved_attrs)}
        taken = set(clean)
        for seg, sub in level.items():
            if seg in clean:
                attr = seg
            else:
                base = sanitize(seg)
                if base in self.reserved_attrs:
                    base += "_"
                attr, i = base, 0
                while attr in taken:
                    i += 1
                    attr = f"{base}_{i}"
                taken.add(attr)
            if attr.isdigit():
                self.has_digits = True
            child = Node(attr, attr if not parent.key_path else f"{parent.key_path}.{attr}")
            parent.children[seg] = child
            self._assign(child, sub)

    # -- code

    def emit(self) -> tuple[str, list]:
        self.build_tree()
        from .torchops import Ctx, expression

        func = self.func
        cls = class_name(self.module.name)
        container = "Container"
        helper_names = set(self.helpers)
        reserved = set(dir(builtins)) | set(keyword.kwlist) | {"self", "torch", "F", "nn", "os", "load"} | helper_names
        if cls in reserved | {container}:
            cls += "Model"
        self.cls = cls
        reserved |= {cls, container}
        names = Names(reserved)
        val: dict[int, str] = {}
        args = []
        for a in func.args:
            val[id(a)] = names.claim(a.name)
            args.append(val[id(a)])
        lines, helpers = [], set()
        reads, local = [], []  # per line the names it reads; the locals forward assigns, in order
        for op in func.ops:
            if op.name == "nn.param":
                val[id(op.result)] = self.key_expr[op.attrs["key"]]
                continue
            operands = [val[id(v)] for v in op.operands]
            if op.kind in ("identity", "dropout"):
                val[id(op.result)] = operands[0]
                continue
            prefix = self._module_prefix(op)
            if prefix is not None:
                expr = self._module_call(op, self.module_expr[prefix], operands[0], operands)
            else:
                ctx = Ctx(operands)
                expr = expression(ctx, op)
                helpers |= ctx.helpers
            outs = [names.claim(r.name, unused=not r.uses) for r in op.results]
            for r, n in zip(op.results, outs):
                val[id(r)] = n
            target = ", ".join(outs) + ("," if len(outs) == 1 and op.kind == "split" else "")
            if prefix is not None and op.kind == "lstm":  # nn.LSTM returns (output, (h_n, c_n))
                target = f"{outs[0]}, ({outs[1]}, {outs[2]})"
            lines.append(f"{target} = {expr}")
            reads.append(operands)
            local.extend(outs)
        rets = [val[id(v)] for v in func.outputs]
        lines = _free_dead(lines, reads, local, rets)
        lines.append("return " + (", ".join(rets) if rets else "None"))

        from .torch_exec import helper_source

        out = [(f'"""{cls}: written by irc from the IR module @{sanitize(self.module.name)}.\n\n'
                "Load it with `model = load()` (weights from model.safetensors beside this file).\n"
                '"""\n\n'),
               "import os\n\nimport torch\n"
               + ("import torch.nn.functional as F\n" if any("F." in ln for ln in lines) or helpers else "")
               + "from torch import nn\n"]
        if helpers:
            out.append("\n\n" + helper_source(helpers).rstrip("\n") + "\n")
        if self.has_digits:
            out.append(f"""

class {container}(nn.Module):
    \"\"\"Submodules under the source's names; numbered ones (an nn.Sequential's) by index: self.layer1[0].\"\"\"

    def __getitem__(self, index):
        return getattr(self, str(index))

    def __setitem__(self, index, value):
        setattr(self, str(index), value)
""")
        base = container if any(c.attr.isdigit() for c in self.root.children.values()) else "nn.Module"
        out.append(f"\n\nclass {cls}({base}):\n    def __init__(self):\n        super().__init__()\n")
        init = []
        self._init_lines(self.root, "self", init, container if self.has_digits else "nn.Module")
        out.extend(f"        {ln}\n" for ln in init)
        out.append(f"\n    def forward(self, {', '.join(args)}):\n" if args else "\n    def forward(self):\n")
        out.extend(f"        {ln}\n" for ln in lines)
        out.append(self._example_inputs())
        out.append(f'''

def load(weights=None):
    """The {cls} model in eval mode with its weights: a state_dict, a safetensors path, or by default
    model.safetensors beside this file."""
    model = {cls}()
    if weights is None:
        weights = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.safetensors")
    if isinstance(weights, (str, os.PathLike)):
        from safetensors.torch import load_file

        weights = load_file(weights)
    model.load_state_dict(weights)
    return model.eval()
''')
        source = "".join(out)
        _check_safe(source)
        return source

    def _example_inputs(self) -> str:
        """`example_inputs(batch, seed)`: the random inputs irc-check uses (irc.check.random_inputs)."""
        from .torchops import TORCH_DTYPE

        items = []
        for a in self.func.args:
            t = a.type
            dims = [("batch" if d is None else str(d)) for d in t.shape]
            shape = f"({', '.join(dims)}{',' if len(dims) == 1 else ''})"
            if t.dtype.startswith(("f", "bf")):
                e = f"torch.randn({shape}, generator=g)"
            else:
                e = f"torch.randint(0, 2, {shape}, generator=g)"
            items.append(e if t.dtype == "f32" else f"{e}.to({TORCH_DTYPE[t.dtype]})")
        body = "return (" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        if len(body) > 100:
            body = "return (\n" + "".join(f"        {e},\n" for e in items) + "    )"
        return f"""

def example_inputs(batch=1, seed=0):
    \"\"\"Random inputs for forward, every dynamic dimension set to `batch` (what irc-check feeds).\"\"\"
    g = torch.Generator().manual_seed(seed * 1000 + batch)
    {body}
"""

    def _module_prefix(self, op):
        if op.kind not in MODULE_OPS or len(op.operands) < 2:
            return None
        p = _param_op(op.operands[1])
        if p is None:
            return None
        pre = _module_key_prefix(self.relocate.get(p.attrs["key"], p.attrs["key"]))
        return pre if pre in self.modules and self.modules[pre].op.kind == op.kind else None

    def _module_call(self, op, mod, x, operands=()):
        a = op.attrs
        if op.kind in RECURRENT:  # initial states after the weights: nn.LSTM takes (h0, c0), GRU/RNN h0
            states = list(operands[1 + len(_suffixes(op)):])
            if not states:
                return f"{mod}({x})"
            return f"{mod}({x}, ({states[0]}, {states[1]}))" if op.kind == "lstm" else f"{mod}({x}, {states[0]})"
        if op.kind == "conv2d":
            (t, b), (left, r) = a["padding"]
            if not (t == b and left == r):
                from .torchops import lit
                from .torchops.conv import _flat_pad

                return f"{mod}(F.pad({x}, {lit(_flat_pad(a['padding']))}))"
        if op.kind == "batch_norm" and a.get("layout", "nchw") == "nhwc":
            return f"{mod}({x}.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)"
        return f"{mod}({x})"

    def _init_lines(self, node: Node, expr: str, out: list, container: str):
        for child in node.children.values():
            cexpr = child.expr(expr)
            if child.module is not None:
                out.append(f"{cexpr} = {child.module.ctor}")
            elif child.tensor is not None:
                t, is_buffer = child.tensor
                from .torchops import TORCH_DTYPE

                shape = ", ".join(str(d) for d in t.shape)
                dt = "" if t.dtype == "f32" else f", dtype={TORCH_DTYPE[t.dtype]}"
                empty = f"torch.empty(({shape}{',' if len(t.shape) == 1 else ''}){dt})"
                if is_buffer:
                    out.append(f'{expr}.register_buffer("{child.attr}", {empty})')
                else:
                    out.append(f"{cexpr} = nn.Parameter({empty})")
            else:
                out.append(f"{cexpr} = {container}()")
                self._init_lines(child, cexpr, out, container)

    # -- weights

    def weight_entries(self):
        """[(emitted key, dtype, shape, bytes-like)] sorted by key: exactly the emitted state_dict."""
        store = self.module.weights
        entries = {}
        for k in self.keys:
            t = self.key_types[k]
            if store is None or not store.has(k):
                raise EmitError(f"param '{sanitize(k)}' is missing from the weight file")
            entries[self.emitted_key[k]] = (t.dtype, list(t.shape), store.raw(k))
        for spec in self.modules.values():
            for suffix, key in spec.state:
                if key is None:
                    ek = f"{self._emitted_prefix(spec)}.{suffix}"
                    entries[ek] = ("i64", [], bytes(8))
        return [(k, *entries[k]) for k in sorted(entries)]

    def _emitted_prefix(self, spec):
        k = next(key for _, key in spec.state if key is not None)
        return self.emitted_key[k].rsplit(".", 1)[0]


def _free_dead(lines, reads, local, keep):
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
            if isinstance(v, str) and not all(_IDENT.match(x) for x in parts):
                raise EmitError(f"internal error: unsafe identifier {v!r} in emitted code")


def _is_docstring(tree, node) -> bool:
    for n in ast.walk(tree):
        if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Module)) and n.body:
            first = n.body[0]
            if isinstance(first, ast.Expr) and first.value is node:
                return True
    return False


def _safetensors_bytes(entries, metadata=None):
    header, offset = {}, 0
    if metadata:
        header["__metadata__"] = metadata
    for key, dtype, shape, _ in entries:
        n = 1
        for d in shape:
            n *= d
        nbytes = n * ITEMSIZE[dtype]
        header[key] = {"dtype": IR_TO_ST[dtype], "shape": shape, "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    blob = json.dumps(header, separators=(",", ":"), sort_keys=False).encode()
    blob += b" " * (-len(blob) % 8)
    return blob


def _write_temp(path: str, write) -> str:
    """write(file) into a temporary file beside `path`; returns the temporary's path."""
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
    except BaseException:
        _unlink(tmp)
        raise
    return tmp


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def emit_pytorch(module: Module, out_dir: str, progress=None) -> dict:
    """Write `out_dir/model.py` and `out_dir/model.safetensors` for `module`; return what was written
    ({"model.py": path, "model.safetensors": path, "class": name, "modules": n, "renamed": n, ...}).
    `progress`: optional callable(str) told about the steps."""
    progress = progress or (lambda msg: None)
    progress("verifying")
    verify(module)
    progress("generating model.py")
    em = _Emitter(module)
    source = em.emit()
    entries = em.weight_entries()
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise EmitError(f"{out_dir} exists and is not a directory (-o names the directory to write into)")
    os.makedirs(out_dir, exist_ok=True)
    py_path = os.path.join(out_dir, "model.py")
    st_path = os.path.join(out_dir, "model.safetensors")
    for p in (py_path, st_path):
        if module.path and os.path.exists(p) and os.path.samefile(p, module.path):
            raise EmitError(f"refusing to overwrite the input file {p}")
        if module.weights is not None and module.weights.path and os.path.exists(p) and \
                os.path.exists(module.weights.path) and os.path.samefile(p, module.weights.path):
            raise EmitError(f"refusing to overwrite the weight file being read: {p}")
    metadata = {"irc.source_keys": json.dumps(em.renamed, sort_keys=True)} if em.renamed else None
    blob = _safetensors_bytes(entries, metadata)

    def write_weights(f):
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for *_, data in entries:
            f.write(data)

    progress(f"writing model.safetensors ({sum(len(d) for *_, d in entries) / 1e6:.0f} MB)")
    # both files go to temporaries first and are renamed only when both are complete, so a failure
    # leaves the directory as it was (no half-written file, no new weights beside an old model.py)
    temps = []
    try:
        temps.append((_write_temp(st_path, write_weights), st_path))
        temps.append((_write_temp(py_path, lambda f: f.write(source.encode("utf-8"))), py_path))
    except BaseException:
        for tmp, _ in temps:
            _unlink(tmp)
        raise
    for tmp, final in temps:
        os.replace(tmp, final)
    return {"model.py": py_path, "model.safetensors": st_path, "class": em.cls,
            "modules": len(em.modules), "renamed": len(em.renamed), "params": len(entries),
            "bytes": sum(len(data) for *_, data in entries)}
