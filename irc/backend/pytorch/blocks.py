"""model.py with the source's blocks: one class per distinct block structure (irc.ir.structure).

Each function of a structured module becomes a class written by the same emitter as a flat model (its
`nn.param` keys are relative, so its modules hang at `self.conv1`, ...), and each `nn.call` an instance at the
call's scope (`self.layer1[0] = BasicBlock(...)`) called in forward. A function the source had as an
nn.Sequential whose ops run its children in order becomes an `nn.Sequential(...)` of them (so
`self.layer1[0]` is a real index; a child with no op left, such as a Dropout, is an `nn.Identity()`).

Functions of one source class whose classes differ only in literals (channel counts, strides, sizes) are one
class: each literal that differs becomes a constructor argument (`conv1_out_channels`), named after the module
keyword or the call it is in, and literals that always vary together share one argument. Functions are written
callees first, so a caller's text holds its blocks' constructor calls and merges the same way.

Anything this form cannot hold (a key whose name had to be changed, a param read both inside and outside a
block) raises `Unstructurable` and the model is written flat.
"""

from __future__ import annotations

from ...ir import Module
from ...ir.core import Func, Op, uniquify
from ...ir.structure import clone_func
from .base import LAYERS, SPELL_DEFAULTS
from .emitter import _Emitter
from .generalize import drop_defaults, literals, merge, skeleton, spelled, substitute
from .modules import Node, find_modules, key_prefix, param_op
from .names import sanitize


class Unstructurable(Exception):
    """This model cannot be written with its blocks; it is written flat."""


class BlockEmitter(_Emitter):
    """The flat emitter for one function, with each `nn.call` as an instance at its scope."""

    def __init__(self, module: Module, func: Func, blocks: dict[str, str], optional: dict | None = None):
        super().__init__(module, func)
        self.blocks = blocks
        self.optional = optional or {}  # scope -> the constructor argument holding the child or None
        self.call_expr: dict[str, str] = {}

    def build_tree(self) -> None:
        self._collect_keys()
        self.modules = find_modules(self.func, self.keys, self.key_types)
        self.relocate = {}
        self.root = Node("", "")
        self.key_expr, self.module_expr, self.emitted_key = {}, {}, {}
        tree: dict = {}
        ends: set[str] = set()
        for op in self.func.ops:
            if op.name == "nn.call":
                path = op.attrs["scope"]
            elif op.name == "nn.param":
                key = op.attrs["key"]
                pre = key_prefix(key)
                path = pre if pre in self.modules else key
            else:
                continue
            if path in ends:
                continue
            level = tree
            for seg in path.split("."):
                level = level.setdefault(seg, {})
            ends.add(path)
        if any(other.startswith(end + ".") for end in ends for other in ends):
            raise Unstructurable("a block's path holds other tensors")
        self.has_digits = False
        self._assign(self.root, tree)
        for k in self.keys:
            self._place(k)
            if self.emitted_key[k] != k:
                raise Unstructurable(f"key {k} is renamed")
        for op in self.func.ops:
            if op.name == "nn.call":
                self._place_call(op)

    def _place_call(self, op: Op) -> None:
        node, expr = self.root, "self"
        for seg in op.attrs["scope"].split("."):
            node = node.children[seg]
            expr = node.expr(expr)
        if node.attr != op.attrs["scope"].split(".")[-1]:
            raise Unstructurable("a block's attribute name was changed")
        scope = op.attrs["scope"]
        node.block = self.optional[scope] if scope in self.optional else self.blocks[op.attrs["callee"]]
        self.call_expr[scope] = expr

    def call_expression(self, op: Op, operands: list[str]) -> str | None:
        if op.name != "nn.call":
            return None
        expr = self.call_expr[op.attrs["scope"]]
        if op.attrs["scope"] in self.optional:  # a child some instances lack: they pass None, as torchvision's
            return f"{operands[0]} if {expr} is None else {expr}({operands[0]})"
        return f"{expr}({', '.join(operands)})"


def sequential(module: Module, func: Func, blocks: dict[str, str]) -> str | None:
    """`nn.Sequential(...)` for a function that runs its children `0`, `1`, ... in order, else None."""
    if not func.attrs.get("sequential") or len(func.args) != 1 or len(func.outputs) != 1:
        return None
    emitter = BlockEmitter(module, func, blocks)
    try:
        emitter.build_tree()
    except Unstructurable:
        return None
    if any(key_prefix(k) not in emitter.modules for k in emitter.keys):
        return None
    steps = [op for op in func.ops if op.name != "nn.param"]
    prev = func.args[0]
    for op in steps:
        if not op.operands or op.operands[0] is not prev or len(op.results) != 1 or \
                any(param_op(v) is None for v in op.operands[1:]) or (op.name == "nn.call" and len(op.operands) > 1):
            return None  # an nn.Sequential passes its children one tensor
        prev = op.result
    if func.outputs[0] is not prev or not steps:
        return None
    named = _named_children(steps, emitter, blocks)
    if named is not None:  # nn.Sequential(OrderedDict(...)): children with names (ViT's encoder_layer_0)
        return "nn.Sequential(\n    OrderedDict(\n" + "".join(
            _indent(f"{name}={ctor}", "        ") + ",\n" for name, ctor in named) + "    )\n)"
    items: dict[int, str] = {}
    last = -1
    for op in steps:
        index, ctor = _child(op, emitter, blocks, last)
        if ctor is None or not index.isdigit() or int(index) <= last or index != str(int(index)):
            return None
        items[int(index)] = ctor
        last = int(index)
    return "nn.Sequential(\n" + "".join(_indent(items.get(i, "nn.Identity()")) + ",\n" for i in range(last + 1)) + ")"


def _named_children(steps: list[Op], emitter, blocks: dict[str, str]) -> list[tuple[str, str]] | None:
    """(name, constructor) of each step when every one is a child with an identifier name, else None."""
    out = []
    for op in steps:
        name, ctor = _child(op, emitter, blocks, -1)
        if ctor is None or not name.isidentifier() or name.isdigit() or "." in name or \
                any(name == seen for seen, _ in out):
            return None
        out.append((name, ctor))
    return out


def _child(op: Op, emitter, blocks: dict[str, str], last: int) -> tuple[str, str | None]:
    if op.name == "nn.call":
        return op.attrs["scope"], blocks[op.attrs["callee"]]
    prefix = emitter._module_prefix(op)
    if prefix is not None:
        return prefix, emitter.modules[prefix].ctor
    if len(op.operands) != 1:
        return "", None
    layer = LAYERS.lookup(op.name)
    source = op.operands[0]
    fresh = source.owner is not None and len(source.uses) == 1 and source.type == op.result.type and \
        emitter._module_prefix(source.owner) is not None  # a conv's, a BatchNorm's output: a new tensor
    return str(last + 1), (layer(op, fresh) if layer is not None else None)


def _indent(text: str, by: str = "    ") -> str:
    return "\n".join(by + ln if ln else ln for ln in text.split("\n"))


# ----------------------------------------------------------------------------- classes


def _kinds(members: list[tuple]) -> int:
    """How many classes these texts need: one per text that differs in more than literals."""
    return len({skeleton(literals(text)) for _, text, _ in members})


def _heights(module: Module) -> dict[str, int]:
    """For each function, 0 when it calls nothing, else one more than its highest callee."""
    heights: dict[str, int] = {}

    def height(func: Func) -> int:
        if func.name not in heights:
            heights[func.name] = 0
            callees = [module.func(op.attrs["callee"]) for op in func.ops if op.name == "nn.call"]
            heights[func.name] = 1 + max((height(c) for c in callees), default=-1)
        return heights[func.name]

    for f in module.funcs:
        height(f)
    return heights


def _render(name: str, base: str, init: list[str], lines: list[str], args: list[str]) -> str:
    out = [f"class {name}({base}):", "    def __init__(self):", "        super().__init__()"]
    out += [_indent(ln, "        ") for ln in init]
    out += ["", f"    def forward(self, {', '.join(args)}):" if args else "    def forward(self):"]
    out += [_indent(ln, "        ") for ln in lines]
    return "\n".join(out) + "\n"


def _ctor(name: str, params: list[str], values: list[str], extra: list[tuple[str, str]] = ()) -> str:
    """`Name(64, 128, downsample=...)`, over several lines when long; `extra`: (keyword, text) pairs."""
    text = f"{name}({', '.join(values + [f'{p}={v}' for p, v in extra])})"
    if len(text) <= 100 and "\n" not in text:
        return text
    head = f"    {', '.join(values)},\n" if values else ""
    return f"{name}(\n{head}" + "".join(_indent(f"{p}={v}") + ",\n" for p, v in extra) + ")"


class Classes:
    """The classes of a structured module, callees first; `blocks` maps each function to the expression that
    constructs its instance."""

    def __init__(self, module: Module, reserved: set[str]):
        self.module = module
        self.reserved = reserved
        self.blocks: dict[str, str] = {}
        self.texts: list[str] = []
        self.signatures: dict[str, list[str]] = {}
        self.class_names = set(reserved)
        self.helpers: set[str] = set()
        self.has_digits = False
        self.emitter = BlockEmitter
        self.not_sequential: set[str] = set()
        self.spelled: dict[str, str] = {}  # `blocks` written with every argument at its default too

    def build(self) -> None:
        """Each class once every block its functions call is written: all functions of a source class in one
        merge (a BasicBlock with a downsample calls one block more than one without)."""
        main = self.module.main
        heights = _heights(self.module)
        pending = sorted((f for f in self.module.funcs if f is not main), key=lambda f: heights[f.name])
        while pending:
            ready = [f for f in pending
                     if all(op.attrs["callee"] in self.blocks for op in f.ops if op.name == "nn.call")]
            for func in ready:
                seq = sequential(self.module, func, self.blocks) if func.name not in self.not_sequential else None
                if seq is not None:
                    self.blocks[func.name] = seq
                    with spelled():
                        self.spelled[func.name] = sequential(self.module, func, self.spelled)
                else:
                    self.not_sequential.add(func.name)
            if len(pending) != len([f for f in pending if f.name not in self.blocks]):
                pending = [f for f in pending if f.name not in self.blocks]
                continue  # more functions may be ready now
            groups: dict[str, list[Func]] = {}
            for func in pending:
                groups.setdefault(str(func.attrs.get("class", func.name)), []).append(func)
            ready_names = {f.name for f in ready}
            whole = {cls: funcs for cls, funcs in groups.items() if all(f.name in ready_names for f in funcs)}
            if not whole:  # a class whose instances call each other: its lowest ready ones first
                low = min(heights[f.name] for f in pending if f.name in ready_names)
                for func in pending:
                    if func.name in ready_names and heights[func.name] == low:
                        whole.setdefault(str(func.attrs.get("class", func.name)), []).append(func)
            for cls, funcs in whole.items():
                self.merge_class(cls, funcs)
            pending = [f for f in pending if f.name not in self.blocks]

    def merge_class(self, cls: str, funcs: list[Func]) -> None:
        """Write the functions of one source class as few classes as their texts allow."""
        members = self.optional_texts(funcs)
        if len(funcs) > 1 and _kinds(members) > 1:
            with spelled():  # alike but for an argument some leave at its default?
                alike = self.optional_texts(funcs)
            if _kinds(alike) < _kinds(members):
                members = alike
        self.merge(cls, members)

    def optional_texts(self, funcs: list[Func]) -> list[tuple[Func, str, dict]]:
        """(function, class text, {argument: value}) per function. A one-operand child call that some functions
        of the class have and the others lack (ResNet's `downsample`) becomes a constructor argument, None
        where it is missing, when the functions are otherwise alike."""
        out = []
        scopes = [{op.attrs["scope"]: op for op in f.ops if op.name == "nn.call" and len(op.operands) == 1
                   and len(op.results) == 1} for f in funcs]
        donors = {}
        for scope in sorted(set().union(*scopes)):
            having = [f for f, s in zip(funcs, scopes, strict=True) if scope in s]
            lacking = [f for f, s in zip(funcs, scopes, strict=True) if scope not in s]
            if having and any(with_child(f, having[0], scope) is not None for f in lacking):
                donors[scope] = having[0]
        for func, own in zip(funcs, scopes, strict=True):
            optional, virtual = {}, func
            for scope, donor in donors.items():
                name = sanitize(scope.replace(".", "_"))
                if scope in own:
                    optional[scope] = name
                else:
                    widened = with_child(virtual, donor, scope)
                    if widened is not None:
                        virtual, optional[scope] = widened, name
            text = self.text(virtual, "CLS", optional)
            values = {name: (self.blocks[own[scope].attrs["callee"]] if scope in own else "None")
                      for scope, name in optional.items()}
            out.append((func, text, values))
        return out

    def text(self, func: Func, name: str, optional: dict | None = None) -> str:
        emitter = self.emitter(self.module, func, self.spelled if SPELL_DEFAULTS[0] else self.blocks, optional)
        init, lines, args, helpers = emitter.body(self.reserved)
        self.helpers |= helpers
        self.has_digits |= emitter.has_digits
        base = "Container" if any(c.attr.isdigit() for c in emitter.root.children.values()) else "nn.Module"
        return _render(name, base, init, lines, args)

    def merge(self, cls: str, members: list[tuple[Func, str, dict]]) -> None:
        for indices, names in merge([t for _, t, _ in members], self.signatures, self.reserved | set(
                n for _, _, values in members for n in values)):
            name = uniquify(sanitize(cls), self.class_names)
            optional = sorted({n for m in indices for n in members[m][2]})
            params = [n for n, _, _ in names] + optional
            text = substitute(members[indices[0]][1], names).replace("class CLS(", f"class {name}(", 1)
            if params:
                head = ", ".join([n for n, _, _ in names] + [f"{n}=None" for n in optional])
                text = text.replace("def __init__(self):", f"def __init__(self, {head}):", 1)
            self.signatures[name] = params
            text = drop_defaults(text)
            self.texts.append(text)
            for k, m in enumerate(indices):
                values = [vec[k] for _, vec, _ in names]
                extra = [(n, members[m][2][n]) for n in optional if members[m][2].get(n, "None") != "None"]
                self.blocks[members[m][0].name] = _ctor(name, [n for n, _, _ in names], values, extra)
                self.spelled[members[m][0].name] = self.blocks[members[m][0].name]


def with_child(func: Func, donor: Func, scope: str) -> Func | None:
    """A copy of `func` with the one-operand child call `donor` makes at `scope` inserted where `donor` has it
    (its result used where `func` uses the call's operand), when `func` is `donor` without that call; else None.
    The copy is only written out (its call is optional: `x if self.downsample is None else ...`)."""
    call = next(op for op in donor.ops if op.name == "nn.call" and op.attrs["scope"] == scope)
    rest = [op for op in donor.ops if op is not call]
    if len(rest) != len(func.ops) or any(a.name != b.name or len(a.operands) != len(b.operands)
                                         for a, b in zip(rest, func.ops, strict=True)):
        return None
    copy = clone_func(func)
    where = donor.ops.index(call)
    source = call.operands[0]
    if source.owner is None:
        operand = copy.args[donor.args.index(source)] if source in donor.args else None
    else:
        k = rest.index(source.owner) if source.owner in rest else None
        operand = copy.ops[k].results[source.index] if k is not None else None
    if operand is None:
        return None
    # it stands for the operand where `func` reads it, so it has the operand's type
    virtual = Op("nn.call", [operand], {"callee": "", "scope": scope}, [operand.type], [call.result.name])
    virtual.func = copy
    for user in call.result.uses:
        if user is donor.ret or user not in rest:
            return None
        target = copy.ops[rest.index(user)]
        for i, v in enumerate(user.operands):
            if v is call.result:
                if target.operands[i] is not operand:
                    return None
                target.set_operand(i, virtual.result)
    copy.ops.insert(where, virtual)
    return copy
