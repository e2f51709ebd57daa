"""Which params become nn.* modules in model.py, and the tree of attributes they hang on.

Generic: an op is a module op iff the `MODULES` table has a form for it; the state_dict suffixes of
its param operands 1, 2, ... come from its definition (`OPS[op.name].param_names(op.attrs)`).
"""

from __future__ import annotations

from collections.abc import Callable

from ...ir.core import Func, Op, TensorType, Value
from ...ir.ops import OPS
from ...ir.table import OpTable
from .base import MODULES, torch_dtype_text

COUNTER = TensorType((), "i64")  # the type of a module's extra state (BatchNorm's num_batches_tracked)


class Node:
    """A point on a state_dict path: a container, an nn.* module, or one tensor."""

    def __init__(self, attr: str, key_path: str):
        self.attr = attr  # attribute name under the parent ("0" for numbered children)
        self.key_path = key_path  # the emitted path ("layer1.0.conv1")
        self.children: dict[str, Node] = {}  # source segment -> Node, in first-use order
        self.module: ModuleSpec | None = None  # for an nn.* module
        self.tensor: tuple | None = None  # (TensorType, is_buffer) for a bare parameter/buffer
        self.block: str | None = None  # the constructor of a block's instance (irc/backend/pytorch/blocks.py)

    def expr(self, parent_expr: str) -> str:
        if self.attr.isdigit():
            return f"{parent_expr}[{self.attr}]"
        return f"{parent_expr}.{self.attr}"


class ModuleSpec:
    def __init__(self, op: Op, prefix: str, ctor: str, state: list[tuple[str, str | None]]):
        self.op = op  # the first op that calls it
        self.prefix = prefix  # the source path
        self.ctor = ctor  # "nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)"
        self.state = state  # [(emitted suffix, source key or None for a fresh counter)]


def param_op(value: Value) -> Op | None:
    return value.owner if value.owner is not None and value.owner.name == "nn.param" else None


def key_prefix(key: str) -> str | None:
    return key.rsplit(".", 1)[0] if "." in key else None


def param_suffixes(op: Op) -> tuple:
    """The state_dict suffixes of an op's param operands 1, 2, ..."""
    return OPS[op.name].param_names(op.attrs)


def constructor(op: Op, params: list) -> str | None:
    """The nn.* constructor for `op` with param operands `params` (TensorTypes or None), or None if the
    op cannot be a module call that computes exactly the executor's expression."""
    form = MODULES.lookup(op.name)
    w = params[0]
    if form is None or w is None or not w.dtype.startswith(("f", "bf")) or \
            any(p is not None and p.dtype != w.dtype for p in params):
        return None
    return form.ctor(op, params, None if w.dtype == "f32" else torch_dtype_text(w.dtype))


def _op_params(op: Op) -> tuple[list, list, str | None] | None:
    """(keys, types, common prefix) of `op`'s param operands when they are `nn.param`s named
    PREFIX.SUFFIX after the op's param suffixes (None for an absent operand), else None."""
    keys, types, prefix = [], [], None
    for slot, suffix in enumerate(param_suffixes(op), start=1):
        if slot >= len(op.operands) or op.operands[slot] is None:
            keys.append(None)
            types.append(None)
            continue
        p = param_op(op.operands[slot])
        if p is None or not p.attrs["key"].endswith("." + suffix):
            return None
        pre = p.attrs["key"][: -len(suffix) - 1]
        if prefix is not None and pre != prefix:
            return None
        prefix = pre
        keys.append(p.attrs["key"])
        types.append(p.result.type)
    return (keys, types, prefix) if prefix is not None else None


def _candidates(func: Func) -> tuple[dict[str, list], set[str]]:
    """Source path → [(op, keys, ctor)] of the ops that could call a module there, and the paths that
    cannot be modules (an op reads their params some other way)."""
    candidates: dict[str, list] = {}
    rejected: set[str] = set()
    for op in func.ops:
        if MODULES.lookup(op.name) is None:
            continue
        found = _op_params(op)
        if found is None:
            for slot in range(1, 1 + len(param_suffixes(op))):
                if slot < len(op.operands) and param_op(op.operands[slot]):
                    key = param_op(op.operands[slot]).attrs["key"]
                    rejected.add(key.rsplit(".", 1)[0] if "." in key else key)
            continue
        keys, types, prefix = found
        ctor = constructor(op, types)
        if ctor is None:
            rejected.add(prefix)
            continue
        candidates.setdefault(prefix, []).append((op, tuple(keys), ctor))
    return candidates, rejected


def _feeds_only(uses: list) -> bool:
    """Every param of these ops feeds these ops alone, each at its own slot."""
    group_ops = {id(op) for op, _, _ in uses}
    for op, _, _ in uses:
        for slot in range(1, len(op.operands)):
            if param_op(op.operands[slot]) is None:
                continue
            for user in op.operands[slot].uses:
                if id(user) not in group_ops or [i for i, v in enumerate(user.operands)
                                                 if v is op.operands[slot]] != [slot]:
                    return False
    return True


def _module_at(prefix: str, uses: list, under: dict[str, list], key_types: dict) -> ModuleSpec | None:
    """The module at `prefix` called by `uses`, or None when the path holds other tensors too, the
    calls differ, or the params are read elsewhere."""
    op0, keys0, ctor0 = uses[0]
    if any((op.name, op.attrs, keys, ctor) != (op0.name, op0.attrs, keys0, ctor0) for op, keys, ctor in uses):
        return None
    owned = {k for k in keys0 if k is not None}
    state = [(s, k) for s, k in zip(param_suffixes(op0), keys0, strict=True) if k is not None]
    for suffix in MODULES.lookup(op0.name).extra_state:  # a counter the IR kept, else a fresh one
        key = f"{prefix}.{suffix}"
        kept = key_types.get(key) == COUNTER
        owned |= {key} if kept else set()
        state.append((suffix, key if kept else None))
    if set(under.get(prefix, ())) != owned or not _feeds_only(uses):
        return None
    return ModuleSpec(op0, prefix, ctor0, state)


def find_modules(func: Func, keys_in_order: list[str], key_types: dict) -> dict[str, ModuleSpec]:
    """Source path → ModuleSpec for every group of params that can live in one nn.* module."""
    candidates, rejected = _candidates(func)
    under: dict[str, list[str]] = {}
    for k in keys_in_order:
        parts = k.split(".")
        for i in range(1, len(parts)):
            under.setdefault(".".join(parts[:i]), []).append(k)
    modules = {}
    for prefix, uses in candidates.items():
        if prefix in rejected or prefix in keys_in_order:
            continue
        spec = _module_at(prefix, uses, under, key_types)
        if spec is not None:
            modules[prefix] = spec
    # a param op of an owned key that nobody in the group uses (a duplicate nn.param of the same key
    # feeding something else) makes the module unusable
    for op in func.ops:
        if op.name == "nn.param":
            pre = key_prefix(op.attrs["key"])
            if pre in modules:
                spec = modules[pre]
                if any(u.name != spec.op.name or u.attrs != spec.op.attrs for u in op.result.uses):
                    del modules[pre]
    return modules


def _own_params(op: Op, readers: dict[str, int], relocate: dict) -> tuple[list, list] | None:
    """(keys, types) of `op`'s params when each is a flat-named nn.param read by this op alone."""
    keys, types = [], []
    for slot in range(1, 1 + len(param_suffixes(op))):
        v = op.operands[slot] if slot < len(op.operands) else None
        if v is None:
            keys.append(None)
            types.append(None)
            continue
        p = param_op(v)
        # a dotted key is already a state_dict path (ViT's `...self_attention.in_proj_weight`): it
        # stays where the source had it; only flat names (ONNX initializers) move
        if p is None or len(v.uses) != 1 or readers.get(p.attrs["key"]) != 1 or p.attrs["key"] in relocate \
                or "." in p.attrs["key"]:
            return None
        keys.append(p.attrs["key"])
        types.append(p.result.type)
    return keys, types


def _clashes(path: str, new: set[str], others: set[str], module_paths: set[str]) -> bool:
    return path in others or path in module_paths or any(
        k.startswith(path + ".") or path.startswith(k + ".") or k in new for k in others) or any(
        m.startswith(path + ".") or path.startswith(m + ".") for m in module_paths)


def value_named_modules(func: Func, modules: dict[str, ModuleSpec], keys_in_order: list[str]) -> dict[str, str]:
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
        if MODULES.lookup(op.name) is None or len(op.operands) < 2:
            continue
        w = param_op(op.operands[1])
        if w is None or key_prefix(w.attrs["key"]) in modules:
            continue
        found = _own_params(op, readers, relocate)
        ctor = constructor(op, found[1]) if found is not None else None
        path = ".".join(seg for seg in op.result.name.split(".") if seg)
        if ctor is None or not path:
            continue
        suffixes, keys = param_suffixes(op), found[0]
        own = {k for k in keys if k is not None}
        new = {f"{path}.{s}" for s, k in zip(suffixes, keys, strict=True) if k is not None}
        if _clashes(path, new, taken_keys - own, module_paths):
            continue
        state = [(sfx, k) for sfx, k in zip(suffixes, keys, strict=True) if k is not None]
        state += [(suffix, None) for suffix in MODULES.lookup(op.name).extra_state]
        modules[path] = ModuleSpec(op, path, ctor, state)
        module_paths.add(path)
        relocate.update({k: f"{path}.{sfx}" for sfx, k in zip(suffixes, keys, strict=True) if k is not None})
        taken_keys = (taken_keys - own) | new
    return relocate


# ----------------------------------------------------------------------------- in-place forms

# IR op -> form(op, operand names, k) -> the expression that computes the op by updating operand k in place
# (a tensor nothing reads afterwards, of the result's type), or None when the op has no such form. The same
# kernels as the plain expressions compute the same numbers; only the result's buffer is reused, as the
# source's ReLU(inplace=True) and `out += identity` do.
INPLACE = OpTable("in-place torch expression", ir_keys=True)


def _unary_inplace(fn: str) -> Callable:
    return lambda op, args, k: f"{fn}({args[0]}, inplace=True)" if k == 0 else None


def _method_inplace(method: str, commutative: bool) -> Callable:
    def form(op: Op, args: list[str], k: int) -> str | None:
        if k == 1 and not commutative:
            return None
        return f"{args[k]}.{method}({args[1 - k]})"
    return form


for _name, _fn in {"relu": "F.relu", "silu": "F.silu", "hardswish": "F.hardswish"}.items():
    INPLACE.register(_name)(_unary_inplace(_fn))
for _name, _method, _commutative in (("add", "add_", True), ("mul", "mul_", True), ("sub", "sub_", False),
                                     ("div", "div_", False)):
    INPLACE.register(_name)(_method_inplace(_method, _commutative))


@INPLACE.register("clamp")
def _clamp_inplace(op: Op, args: list[str], k: int) -> str | None:
    """ReLU6 (clamp to [0, 6]) as F.relu6(x, inplace=True), as the source's nn.ReLU6(inplace=True)."""
    if k == 0 and op.attrs.get("min") == 0.0 and op.attrs.get("max") == 6.0:
        return f"F.relu6({args[0]}, inplace=True)"
    return None
