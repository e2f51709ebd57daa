"""Blocks: the source model's module hierarchy as functions called with `nn.call`, and the flat form.

A structured module holds `@forward` and one function per distinct block of the source (`@Bottleneck`,
`@Sequential`, ...). `%layer1.0 = nn.call(%x) {callee = "Bottleneck", scope = "0"}` runs a block; the callee's
`nn.param` keys are relative to the call's scope (`conv1.weight` read as `layer1.0.conv1.weight`), so every
instance whose ops are alike shares one function, and editing that function changes them all.

`flatten` inlines every call into one function whose ops remember, in `op.scope`, the Frames of the calls they
came from. Passes, the executor and the non-PyTorch backends work on that flat form; `outline` finds the blocks
again from the frames: every region of ops that ran in one module call becomes a function, alike functions
become one. What cannot be cut out (a region that an outside op both reads and feeds) stays inline.
"""

from __future__ import annotations

import heapq
import itertools

from .core import Frame, Func, Module, Op, Value, sanitize_name, uniquify
from .diagnostics import Diagnostic, DiagnosticError, IrcError
from .ops import OPS
from .ops.registry import infer_types

CALL = "nn.call"
MAX_CALL_DEPTH = 64  # nesting of calls flatten follows (the verifier refuses recursion)
MAX_INLINED_OPS = 10_000_000  # ops of the inlined function, at most


def has_calls(module: Module) -> bool:
    return any(op.name == CALL for op in module.ops())


# ----------------------------------------------------------------------------- flatten


def flatten(module: Module, copy: bool = False, names: dict | None = None) -> Module:
    """`module` with every `nn.call` inlined: a new Module (sharing the weight store) of one function, each op
    with `op.scope` set to the Frames of the calls it came from. `module` itself when it has no call (unless
    `copy`). `names`, when given, gets {id(value of the main function): its name in the flat one}."""
    if not copy and not has_calls(module):
        if names is not None:
            names.update({id(v): v.name for v in module.main.values()})
        return module
    _check_calls(module)
    main = module.main
    args = [Value(a.name, a.type, pos=a.pos) for a in main.args]
    flat = Func(main.name, args, list(main.result_types), pos=main.pos, attrs=main.attrs)
    env = {id(a): b for a, b in zip(main.args, args, strict=True)}
    _inline(module, main, flat, env, "", (), itertools.count(), 0)
    flat.set_outputs([env[id(v)] for v in main.outputs])
    if names is not None:
        names.update({id(v): env[id(v)].name for v in main.values()})
    flat.written_ret_types = main.written_ret_types
    flat.ret.pos = main.ret.pos
    out = Module(module.name, module.attrs, [flat], module.weights, module.path)
    out.source = module.source
    flat.module = out
    return out


def _instance_types(module: Module, op: Op, operands: list[Value], attrs: dict) -> list:
    """The result types of a block's op in one instance: a function several instances share may leave sizes
    open (`?`), which the instance's operands and weights fix. The declared types where inference cannot."""
    declared = [r.type for r in op.results]
    if all(t is not None and None not in t.shape for t in declared):
        return declared
    try:
        if op.name == "nn.param":
            return [module.weights.type_of(attrs["key"])] if module.weights is not None and \
                module.weights.has(attrs["key"]) else declared
        if any(v.type is None for v in operands):
            return declared
        inferred = infer_types(OPS[op.name], [v.type for v in operands], attrs)
    except Exception:  # noqa: BLE001  (the verifier reports what does not fit)
        return declared
    return inferred if len(inferred) == len(declared) else declared


def _check_calls(module: Module) -> None:
    """What flatten needs of the calls, reported as diagnostics (it runs before the verifier when a pass repairs
    types): each names a function other than the main one with its arity, calls do not recurse, and the
    inlined function stays within MAX_INLINED_OPS ops (a few bytes of calls calling calls twice can stand for
    more ops than memory holds)."""
    diags: list[Diagnostic] = []
    for func in module.funcs:
        for op in func.ops:
            if op.name != CALL:
                continue
            callee = module.func(op.attrs.get("callee")) if isinstance(op.attrs.get("callee"), str) else None
            if callee is None or callee is module.main or not isinstance(op.attrs.get("scope"), str):
                diags.append(Diagnostic("nn.call needs a 'callee' naming a function other than the main one and "
                                        "a 'scope' string", op.pos))
            elif len(op.operands) != len(callee.args) or len(op.results) != len(callee.outputs):
                diags.append(Diagnostic(f"nn.call passes {len(op.operands)} operands for {len(op.results)} results "
                                        f"but @{callee.name} takes {len(callee.args)} and returns "
                                        f"{len(callee.outputs)}", op.pos))
    if not diags:
        sizes: dict[str, int] = {}
        total = _inlined_size(module, module.main, sizes, ())
        if total > MAX_INLINED_OPS:
            diags.append(Diagnostic(f"inlining the calls would make {total} ops (irc allows {MAX_INLINED_OPS})",
                                    module.main.pos))
    if diags:
        raise DiagnosticError(diags, module.path, module.source)


def _inlined_size(module: Module, func: Func, sizes: dict[str, int], chain: tuple) -> int:
    """How many ops `func` becomes inlined (capped just past MAX_INLINED_OPS); a recursive call is an error."""
    if func.name in chain:
        raise DiagnosticError([Diagnostic(f"@{func.name} calls itself: calls cannot recurse", func.pos)],
                              module.path, module.source)
    if func.name not in sizes:
        total = 0
        for op in func.ops:
            total += _inlined_size(module, module.func(op.attrs["callee"]), sizes, chain + (func.name,)) \
                if op.name == CALL else 1
            total = min(total, MAX_INLINED_OPS + 1)
        sizes[func.name] = total
    return sizes[func.name]


def _inline(module: Module, func: Func, dst: Func, env: dict, prefix: str, frames: tuple, counter, depth: int) -> None:
    if depth > MAX_CALL_DEPTH:
        raise IrcError(f"calls nest deeper than {MAX_CALL_DEPTH} levels at @{func.name}")
    for op in func.ops:
        if op.name == CALL:
            callee = module.func(op.attrs["callee"])
            inner = {id(a): env[id(v)] for a, v in zip(callee.args, op.operands, strict=True)}
            scope = op.attrs["scope"]
            frame = Frame(f"{prefix}{scope}#{next(counter)}", scope, str(callee.attrs.get("class", callee.name)),
                          bool(callee.attrs.get("sequential", False)))
            _inline(module, callee, dst, inner, f"{prefix}{scope}.", frames + (frame,), counter, depth + 1)
            for r, v in zip(op.results, callee.outputs, strict=True):
                env[id(r)] = inner[id(v)]
            continue
        attrs = dict(op.attrs)
        if op.name == "nn.param" and prefix:
            attrs["key"] = prefix + attrs["key"]
        operands = [env[id(v)] for v in op.operands]
        types = _instance_types(module, op, operands, attrs) if prefix else [r.type for r in op.results]
        new = Op(op.name, operands, attrs, types, [prefix + r.name for r in op.results], op.loc, op.pos)
        new.operand_pos, new.type_pos = op.operand_pos, op.type_pos
        new.scope = frames + op.scope
        dst.append(new)
        for r, n in zip(op.results, new.results, strict=True):
            env[id(r)] = n


def clone_func(func: Func) -> Func:
    """A copy of `func` (new values and ops; attributes, locations and scopes kept)."""
    args = [Value(a.name, a.type, pos=a.pos) for a in func.args]
    copy = Func(func.name, args, list(func.result_types), pos=func.pos, attrs=func.attrs)
    copy.module = func.module
    env = {id(a): b for a, b in zip(func.args, args, strict=True)}
    for op in func.ops:
        new = Op(op.name, [env[id(v)] for v in op.operands], dict(op.attrs), [r.type for r in op.results],
                 [r.name for r in op.results], op.loc, op.pos)
        new.scope = op.scope
        copy.append(new)
        for r, n in zip(op.results, new.results, strict=True):
            env[id(r)] = n
    copy.set_outputs([env[id(v)] for v in func.outputs])
    return copy


# ----------------------------------------------------------------------------- outline


def outline(module: Module, generic: bool = True) -> Module:
    """Put the blocks back: `module`'s one function, whose ops carry `op.scope`, becomes `@forward` plus one
    function per distinct block, called with `nn.call`. Changes and returns `module`.

    Blocks alike but for sizes (a Bottleneck of 64 channels and one of 256) share one function whose types
    leave those sizes open (`?`), unless `generic` is False (one function per set of sizes, as the emitted
    PyTorch wants: its constructors need the sizes)."""
    if len(module.funcs) != 1 or has_calls(module):
        return module
    func = module.main
    if not any(op.scope for op in func.ops):
        return module
    while True:
        scopes = _hoisted_scopes(func)
        tangled = _tangled(func, scopes)
        if tangled is None:
            break
        for op in func.ops:  # that block's ops join its caller's
            op.scope = tuple(f for f in op.scope if f.ident != tangled)
    _Outliner(module, scopes, generic).run()
    return module


def _path(scope: tuple) -> str:
    return ".".join(f.path for f in scope)


def _hoisted_scopes(func: Func) -> dict[int, tuple]:
    """Each op's scope, with ops without operands (params, constants) moved to the innermost block that holds
    every use (a param only into a block whose path prefixes its key, since keys there are relative)."""
    scopes = {}
    for op in func.ops:
        scope = op.scope
        if not op.operands:
            users = [u for r in op.results for u in r.uses]
            if users:
                scope = _common([(u.scope if u.func is not None and u is not func.ret else ()) for u in users])
            while scope and op.name == "nn.param" and not op.attrs["key"].startswith(_path(scope) + "."):
                scope = scope[:-1]
        scopes[id(op)] = scope
    return scopes


def _common(scopes: list[tuple]) -> tuple:
    first = scopes[0]
    n = len(first)
    for s in scopes[1:]:
        n = min(n, len(s))
        for i in range(n):
            if s[i] != first[i]:
                n = i
                break
    return first[:n]


def _tangled(func: Func, scopes: dict[int, tuple]) -> str | None:
    """The ident of a block that cannot be cut out, or None: one whose span holds an outside op that reads
    what the block computes and feeds the block (directly or not)."""
    pos = {id(op): i for i, op in enumerate(func.ops)}
    spans: dict[str, list] = {}
    for op in func.ops:
        for f in scopes[id(op)]:
            spans.setdefault(f.ident, []).append(op)
    for ident, ops in spans.items():
        inside = {id(op) for op in ops}
        lo, hi = pos[id(ops[0])], pos[id(ops[-1])]
        tainted: set[int] = set()
        for op in func.ops[lo:hi + 1]:
            reads = {id(v.owner) for v in op.operands if v.owner is not None}
            if id(op) in inside:
                if reads & tainted:
                    return ident
            elif reads & (inside | tainted):
                tainted.add(id(op))
    return None


class _Outliner:
    def __init__(self, module: Module, scopes: dict[int, tuple], generic: bool):
        self.module = module
        self.func = module.main
        self.scopes = scopes
        self.generic = generic
        self.by_signature: dict[tuple, Func] = {}
        self.by_structure: dict[tuple, Func] = {}  # the signature without sizes
        self.funcs: list[Func] = []
        self.names = {"forward", self.func.name}

    def run(self) -> None:
        body = self._region(self.func.ops, 0)
        self.func.ops = body
        for op in body:
            op.func = self.func
            op.scope = ()
        self.func.rebuild_names()
        order, seen = [self.func], {self.func.name}
        by_name = {f.name: f for f in self.funcs}
        stack = [self.func]
        while stack:  # functions in the order a reader meets their first call
            f = stack.pop(0)
            for op in f.ops:
                if op.name == CALL and op.attrs["callee"] not in seen:
                    seen.add(op.attrs["callee"])
                    order.append(by_name[op.attrs["callee"]])
                    stack.append(by_name[op.attrs["callee"]])
        for f in order:
            f.module = self.module
        self.module.funcs = order

    def _region(self, ops: list[Op], depth: int) -> list[Op]:
        """The ops of one block (every op's scope has this block's frames first) with each child block
        replaced by its call, in order: a call stands where its block's last op stood."""
        children: dict[str, list[Op]] = {}
        frames: dict[str, Frame] = {}
        for op in ops:
            scope = self.scopes[id(op)]
            if len(scope) > depth:
                frame = scope[depth]
                frames.setdefault(frame.ident, frame)
                children.setdefault(frame.ident, []).append(op)
        built = {id(child[-1]): (ident, child) for ident, child in children.items()}
        out = []
        for op in ops:
            scope = self.scopes[id(op)]
            if len(scope) == depth:
                out.append(op)
            elif id(op) in built:
                ident, child = built[id(op)]
                out.append(self._call(frames[ident], self._region(child, depth + 1), scope[:depth + 1]))
        return _topological(out)

    def _call(self, frame: Frame, body: list[Op], scope: tuple) -> Op:
        """Cut `body` out into a function (or reuse an alike one) and return the call that replaces it."""
        inside = {id(op) for op in body}
        inputs, outputs = _boundary(body, inside)
        prefix = _path(scope) + "."
        args = [Value("x" if i == 0 else f"x{i}", v.type) for i, v in enumerate(inputs)]
        for op in body:
            for i, v in enumerate(op.operands):
                if v in inputs:
                    op.set_operand(i, args[inputs.index(v)])
        callee = Func("", args, [v.type for v in outputs],
                      attrs={"class": frame.cls, **({"sequential": True} if frame.sequential else {})})
        for op in body:
            if op.name == "nn.param":
                op.attrs["key"] = op.attrs["key"][len(prefix):]
            for r in op.results:
                r.name = r.name[len(prefix):] if r.name.startswith(prefix) and len(r.name) > len(prefix) else r.name
            callee.append(op)
            self.scopes[id(op)] = op.scope = ()  # now relative to the function
        call = Op(CALL, inputs, {"callee": "", "scope": frame.path}, [v.type for v in outputs],
                  [sanitize_name(frame.path)] * len(outputs))
        for old, new in zip(outputs, call.results, strict=True):  # readers outside read the call
            for user in list(old.uses):
                if id(user) not in inside:
                    user.operands = [new if v is old else v for v in user.operands]
                    old.uses = [u for u in old.uses if u is not user]
                    new.uses.extend(user for v in user.operands if v is new)
        callee.set_outputs(outputs)
        signature = _signature(callee)
        same = self.by_signature.get(signature)
        structure = _signature(callee, sizes=False)
        if same is None and self.generic and structure in self.by_structure:
            same = self.by_structure[structure]
            _widen(same, callee)
            self.by_signature[signature] = same
        if same is None:
            callee.name = uniquify(sanitize_name(frame.cls).replace(".", "_"), self.names)
            self.by_signature[signature] = callee
            self.by_structure.setdefault(structure, callee)
            self.funcs.append(callee)
            same = callee
        call.attrs["callee"] = same.name
        self.scopes[id(call)] = scope[:-1]
        return call


def _boundary(body: list[Op], inside: set[int]) -> tuple[list[Value], list[Value]]:
    """The values `body` reads from outside (in order of first use) and the ones it defines that are read
    outside it."""
    inputs: list[Value] = []
    for op in body:
        for v in op.operands:
            if (v.owner is None or id(v.owner) not in inside) and v not in inputs:
                inputs.append(v)
    outputs = [r for op in body for r in op.results if any(id(u) not in inside for u in r.uses)]
    return inputs, outputs


def _topological(ops: list[Op]) -> list[Op]:
    """`ops` in an order where every op comes after what it reads, as close to the given order as that allows
    (an op inside a block's span that reads the block comes after the block's call)."""
    index = {id(op): i for i, op in enumerate(ops)}
    waiting = {id(op): sum(1 for v in set(op.operands) if v.owner is not None and id(v.owner) in index)
               for op in ops}
    ready = [i for i, op in enumerate(ops) if waiting[id(op)] == 0]
    heapq.heapify(ready)
    out = []
    while ready:
        op = ops[heapq.heappop(ready)]
        out.append(op)
        for r in op.results:
            for user in set(r.uses):
                if id(user) in index:
                    waiting[id(user)] -= sum(1 for v in set(user.operands) if v is r)
                    if waiting[id(user)] == 0:
                        heapq.heappush(ready, index[id(user)])
    if len(out) != len(ops):
        raise IrcError("internal error: the blocks of this function depend on each other in a cycle")
    return out


def _signature(func: Func, sizes: bool = True) -> tuple:
    """What makes two functions alike: their types (with or without the sizes), attributes and wiring (names and
    locations aside)."""
    from .printer import _attr_dict

    def kind(t: object) -> object:
        return str(t) if sizes or t is None else (t.dtype, t.rank)

    ids: dict[int, object] = {id(a): ("arg", i) for i, a in enumerate(func.args)}
    parts: list = [tuple(kind(a.type) for a in func.args), _attr_dict(func.attrs)]
    for j, op in enumerate(func.ops):
        for k, r in enumerate(op.results):
            ids[id(r)] = (j, k)
        parts.append((op.name, _attr_dict(op.attrs), tuple(kind(r.type) for r in op.results),
                      tuple(ids[id(v)] for v in op.operands)))
    parts.append(tuple(ids[id(v)] for v in func.outputs))
    return tuple(parts)


def _widen(func: Func, other: Func) -> None:
    """Leave open (`?`) every size of `func`'s types that `other`, alike but for sizes, has different."""
    def join(a: object, b: object) -> object:
        if a is None or b is None or a == b:
            return a
        return a.with_shape(x if x == y else None for x, y in zip(a.shape, b.shape, strict=True))

    for a, b in zip(func.args, other.args, strict=True):
        a.type = join(a.type, b.type)
    for op, twin in zip(func.ops, other.ops, strict=True):
        for r, s in zip(op.results, twin.results, strict=True):
            r.type = join(r.type, s.type)
    func.result_types = [join(a, b) for a, b in zip(func.result_types, other.result_types, strict=True)]
