"""The verifier: is this module well formed, and does every type fit what the ops compute?

It checks SSA order, operand and result counts, attribute names and kinds, every result type
against the registry's inference, `nn.param` tensors against the weight file, and the function
signatures against what they return. All problems are reported at once, MLIR-style.
"""

from __future__ import annotations

import difflib

from .core import DenseAttr, Module, Op, TensorType
from .dense import check_dense
from .diagnostics import Diagnostic, DiagnosticError, loc_note
from .ops import OPS, ShapeError
from .ops.registry import infer_types, normalize_attrs

MAX_ERRORS = 50
MAX_INSTANCES = 100_000  # block instances the verifier checks, at most
MAX_INSTANCE_OPS = 10_000_000  # ops it checks over all of them (what flatten allows inlined), at most


def verify(module: Module) -> None:
    """Raise DiagnosticError listing every problem; return None when the module is valid."""
    diags = collect(module)
    if diags:
        raise DiagnosticError(diags[:MAX_ERRORS], module.path, module.source)


def collect(module: Module) -> list[Diagnostic]:
    v = _Verifier(module)
    v.run()
    return v.diags


class _Verifier:
    def __init__(self, module: Module):
        self.module = module
        self.diags: list[Diagnostic] = []
        self.weights_reported = False

    def error(self, op: Op | None, message: str, pos=None):
        notes = []
        if op is not None:
            pos = pos or op.pos
            note = loc_note(op.loc)
            if note:
                notes.append((None, note))
            if pos is None and op.name != "return":
                from .printer import print_op

                notes.append((None, "in: " + print_op(op, strip_locs=True)))
        self.diags.append(Diagnostic(message, pos, notes=notes))

    def run(self):
        if not self.module.funcs:
            self.diags.append(Diagnostic(f"module @{self.module.name} has no function; irc runs @forward (or the "
                                         "first function)", (1, 1) if self.module.source else None))
        names = set()
        for func in self.module.funcs:
            if func.name in names:
                self.diags.append(Diagnostic(f"function @{func.name} is defined twice", func.pos))
            names.add(func.name)
        self.called = {op.attrs.get("callee") for op in self.module.ops() if op.name == "nn.call"}
        for func in self.module.funcs:
            self.func(func)
        if self.module.funcs and not self.diags:
            self.instances()

    def instances(self) -> None:
        """Each block once per call that reaches it (irc.ir.structure): the callee's ops are inferred from the
        types the call passes and the weights under the call's scope, and must fit the types it declares (a `?`
        fits any size: a function several instances share may leave their differing sizes open)."""
        self.visits, self.work, self.too_many, self.reported = 0, 0, False, set()
        main = self.module.main
        for op in main.ops:
            if op.name == "nn.call" and self.module.func(op.attrs["callee"]) is not None:
                outs = self.instance(op, [v.type for v in op.operands], "", (main.name,)) or []
                for i, (r, t) in enumerate(zip(op.results, outs, strict=False)):
                    if r.type is None:
                        r.type = t
                    elif t is not None and r.type != t:
                        pos = op.type_pos[i] if op.type_pos else op.pos
                        self.once(op, f"nn.call result {i} is {r.type} but @{op.attrs['callee']} returns {t}", pos)

    def instance(self, call: Op, arg_types: list, prefix: str, chain: tuple) -> list | None:
        """The result types of one instance of a block (None where they cannot be known)."""
        callee = self.module.func(call.attrs["callee"])
        where = f"{prefix}{call.attrs['scope']}"
        self.visits += 1
        self.work += len(callee.ops)
        if self.visits > MAX_INSTANCES or self.work > MAX_INSTANCE_OPS:
            if not self.too_many:
                self.too_many = True
                self.error(call, f"the calls make more than {MAX_INSTANCES} block instances or "
                                 f"{MAX_INSTANCE_OPS} ops")
            return None
        if callee.name in chain:
            self.error(call, f"@{chain[-1]} calls @{callee.name}, which calls it back: calls cannot recurse "
                             f"({' -> '.join('@' + n for n in chain + (callee.name,))})")
            return None
        env = {}
        for i, (a, t) in enumerate(zip(callee.args, arg_types, strict=True)):
            if t is not None and a.type is not None and not fits(a.type, t):
                self.once(call, f"nn.call operand {i} is {t} but @{callee.name} takes {a.type}")
            env[id(a)] = t
        for op in callee.ops:
            ins = [env.get(id(v)) for v in op.operands]
            if any(t is None for t in ins):
                continue
            got = self.concrete(op, ins, where, chain + (callee.name,))
            for i, (r, t) in enumerate(zip(op.results, got or [], strict=False)):
                if r.type is None:
                    r.type = t
                elif t is not None and not fits(r.type, t):
                    pos = op.type_pos[i] if op.type_pos else op.pos
                    self.once(op, f"{op.name} result type {r.type} does not match inferred {t} (in {where})", pos)
                env[id(r)] = t
        return [env.get(id(v)) for v in callee.outputs]

    def concrete(self, op: Op, ins: list, where: str, chain: tuple) -> list | None:
        """The result types of `op` inside the block instance at `where`, given its operands' types."""
        if op.name == "nn.param":
            return [self.param_at(op, where + ".")]
        if op.name == "nn.call":
            callee = self.module.func(op.attrs["callee"])
            if callee is None:
                return None
            return self.instance(op, ins, where + ".", chain)
        try:
            return infer_types(OPS[op.name], ins, op.attrs)
        except ShapeError as e:
            self.once(op, f"{op.name}: {e} (in {where})")
        except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError, OverflowError) as e:
            self.once(op, f"{op.name}: cannot infer the result type in {where} ({type(e).__name__}: {e})")
        return None

    def once(self, op: Op, message: str, pos=None) -> None:
        """One diagnostic per place, not one per instance of the block it is in."""
        key = pos or (op.pos if op.pos is not None else id(op))
        if key not in self.reported:
            self.reported.add(key)
            self.error(op, message, pos)

    def func(self, func):
        defined = set()
        for a in func.args:
            if a.type is None:
                self.diags.append(Diagnostic(f"argument %{a.name} has no type", a.pos))
            defined.add(id(a))
        for op in func.ops:
            ok = True
            for i, v in enumerate(op.operands):
                if id(v) not in defined:
                    pos = op.operand_pos[i] if op.operand_pos else op.pos
                    if v.owner is None and v not in func.args and op.operand_pos:
                        continue  # an undefined name: the parser has reported it
                    self.error(op, f"operand %{v.name} of {op.name} is used before it is defined", pos)
                    ok = False
                elif v.type is None:
                    ok = False
            if ok:  # a block's ops are checked per instance; a function no call reaches, as written
                self.op(op, func is self.module.main or func.name not in self.called)
            for r in op.results:
                defined.add(id(r))
        self.ret(func, defined)

    def ret(self, func, defined):
        outs = func.outputs
        ret = func.ret
        undefined = [v for v in outs if id(v) not in defined]
        for v in undefined:
            if v.owner is None and v not in func.args and ret.operand_pos:
                continue  # an undefined name in parsed text: the parser has reported it
            self.error(ret, f"@{func.name} returns %{v.name}, which no op of the function defines "
                       "(was its op erased?)", ret.pos)
        if undefined:
            return
        if len(outs) != len(func.result_types):
            self.error(ret, f"@{func.name} returns {len(outs)} values but its signature declares "
                       f"{len(func.result_types)}", ret.pos)
            return
        if func.written_ret_types is not None:
            for i, (v, t) in enumerate(zip(outs, func.written_ret_types)):
                if v.type is not None and v.type != t:
                    pos = ret.type_pos[i] if ret.type_pos else ret.pos
                    self.error(ret, f"return type {t} of %{v.name} does not match its type {v.type}", pos)
        for i, (v, t) in enumerate(zip(outs, func.result_types)):
            if v.type is not None and v.type != t:
                self.error(ret, f"@{func.name} result {i} is declared {t} but %{v.name} is {v.type}", ret.pos)

    def op(self, op: Op, concrete: bool = True):
        """Check `op`; its types only when `concrete` (a block's ops are checked per instance: `instances`)."""
        opdef = OPS.get(op.name)
        if opdef is None:
            close = difflib.get_close_matches(op.name, OPS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            self.error(op, f"unknown op '{op.name}'{hint}")
            return
        n = len(op.operands)
        lo, hi = opdef.min_operands, opdef.max_operands
        if n < lo or (hi is not None and n > hi):
            want = f"{lo}" if lo == hi else (f"at least {lo}" if hi is None else f"{lo} to {hi}")
            names = ", ".join(opdef.operands) or "none"
            plural = "" if want == "1" else "s"
            self.error(op, f"{op.name} takes {want} operand{plural} ({names}), got {n}")
            return
        try:
            op.attrs = normalize_attrs(opdef, op.attrs)
        except ShapeError as e:
            self.error(op, str(e))
            return
        for key, value in op.attrs.items():
            problem = check_dense(value) if isinstance(value, DenseAttr) else None
            if problem:
                self.error(op, f"{op.name} attribute '{key}': {problem}")
                return
        if op.name == "nn.call":
            self.call(op)
            return
        want = opdef.results_for(op.attrs)
        if len(op.results) != want:
            self.error(op, f"{op.name} has {want} results here, got {len(op.results)}")
            return
        if not concrete:
            return
        if op.name == "nn.param":
            self.param_at(op, "")
            return
        try:
            inferred = infer_types(opdef, [v.type for v in op.operands], op.attrs)
        except ShapeError as e:
            self.error(op, f"{op.name}: {e}")
            return
        except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError, OverflowError) as e:
            # an inference rule that did not expect these operands: still the user's input, said as such
            self.error(op, f"{op.name}: cannot infer the result type from these operands and attributes "
                           f"({type(e).__name__}: {e})")
            return
        for i, (r, t) in enumerate(zip(op.results, inferred)):
            if r.type is None:
                r.type = t
            elif r.type != t:
                pos = op.type_pos[i] if op.type_pos else op.pos
                which = "result type" if len(op.results) == 1 else f"result {i} type"
                self.error(op, f"{op.name} {which} {r.type} does not match inferred {t}", pos)

    def call(self, op: Op):
        """`nn.call`: the callee exists, is not the main function, and takes and returns these types."""
        callee = self.module.func(op.attrs["callee"])
        scope = op.attrs["scope"]
        if callee is None:
            close = difflib.get_close_matches(op.attrs["callee"], [f.name for f in self.module.funcs], n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            self.error(op, f"nn.call of undefined function @{op.attrs['callee']}{hint}")
            return
        if callee is self.module.main:
            self.error(op, f"nn.call of @{callee.name}, the main function")
            return
        if not scope or any(not part for part in scope.split(".")):
            self.error(op, f"nn.call scope '{scope}' is not an attribute path like 'layer1' or 'layer1.0'")
        if len(op.operands) != len(callee.args):
            self.error(op, f"nn.call passes {len(op.operands)} operands but @{callee.name} takes {len(callee.args)}")
            return
        if len(op.results) != len(callee.result_types):
            self.error(op, f"nn.call has {len(op.results)} results but @{callee.name} returns "
                           f"{len(callee.result_types)}")

    def param_at(self, op: Op, prefix: str) -> TensorType | None:
        """Check the param against the weight file under `prefix`; the type the file holds."""
        store = self.module.weights
        key = prefix + op.attrs["key"]
        if store is None:
            if not self.weights_reported:
                self.error(op, "nn.param needs a weight file, but the module has no 'weights' attribute")
                self.weights_reported = True
            return None
        if store.missing_file:
            if not self.weights_reported:
                self.error(op, f"weights file '{store.path}' does not exist")
                self.weights_reported = True
            return None
        if not store.has(key):
            close = difflib.get_close_matches(key, store.keys(), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            self.error(op, f"weight '{key}' is not in {store.path}{hint}")
            return None
        stored, declared = store.type_of(key), op.result.type
        if declared is None:
            op.result.type = stored
        elif not fits(declared, stored):
            what = "dtype" if stored.shape == declared.shape else "shape"
            self.error(op, f"nn.param '{key}' is declared {declared} but the weight file holds {stored} "
                           f"({what} differs)")
        return stored


def fits(declared: TensorType, actual: TensorType) -> bool:
    """Whether a value of type `actual` fits where `declared` is written: the same element type and rank, and each
    dimension the same or `?` in `declared` (a block's function may leave open what its instances differ in)."""
    return declared.dtype == actual.dtype and declared.rank == actual.rank and all(
        d is None or d == a for d, a in zip(declared.shape, actual.shape, strict=True))
