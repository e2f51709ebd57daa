"""The CoreML emitter driver: one `Emitter` walks the IR function and builds one MIL program with
coremltools' builder (`coremltools.converters.mil.Builder`).

Each IR op is emitted by its family's function in `EMITTERS` (`@emits("conv2d")`), called as
`fn(emitter, op, ins, names)` with the MIL values of the operands (None for an absent optional operand) and
the MIL names of the results; it returns the result's MIL value (a list for several results). The driver
names no op: it asks the table, and the op definitions (`irc.ir.ops.OPS`) for layouts.

Names: MIL names are `[A-Za-z_][A-Za-z0-9_]*`, so every IR value name is sanitised (`layer1.0.conv1` →
`layer1_0_conv1`) and made unique; an op is named after its (first) result; a param becomes a `const`
named after its weight key, sanitised the same way. Helper ops a mapping needs are named `<result>__<what>`.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ...ir import IrcError, Module, Op, TensorType
from ...ir.core import uniquify
from ...ir.dtypes import IR_TO_NP
from ...ir.layout import activation_perm, inverse, weight_perm
from ...ir.ops import OPS
from ...ir.table import OpTable
from ..gaps import refuse_unmapped

if TYPE_CHECKING:
    from coremltools.converters.mil.mil import Program, Var

EMITTERS = OpTable("CoreML emitter", ir_keys=True)  # "nn.conv2d" -> fn(emitter, op, ins, names) -> Var | [Var]
emits = EMITTERS.register

MIL_DTYPES = {"f32": "fp32", "f16": "fp16", "i32": "int32", "i1": "bool"}  # IR dtype -> a MIL `cast` dtype
_BAD = re.compile(r"[^A-Za-z0-9_]")

Handler = Callable[["Emitter", Op, list, list], object]


def mil_name(name: str) -> str:
    """An IR name as MIL accepts it: letters, digits and underscores, not starting with a digit."""
    out = _BAD.sub("_", name)
    return "_" + out if not out or out[0].isdigit() else out


def coreml_modules() -> tuple:
    """(coremltools, the MIL builder, MIL types), or an IrcError when coremltools is not installed."""
    log = logging.getLogger("coremltools")  # its import warns that nothing runs CoreML here and of torch versions
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        import coremltools as ct
        from coremltools.converters.mil import Builder as mb
        from coremltools.converters.mil.mil import types
    except ImportError as e:
        raise IrcError(f"writing CoreML needs coremltools (pip install 'irc[coreml]'): {e}") from None
    finally:
        log.setLevel(level)
    return ct, mb, types


class Emitter:
    """The MIL program being built: the MIL value of every IR value and the names already taken."""

    def __init__(self, module: Module):
        self.ct, self.mb, self.types = coreml_modules()
        self.module = module
        self.func = module.main
        self.vars: dict[int, Var] = {}
        self.taken: set[str] = set()
        self.params: dict[str, Var] = {}  # weight key -> its const

    # -- names and constants

    def fresh(self, base: str) -> str:
        return uniquify(mil_name(base), self.taken)

    def tmp(self, name: str, what: str) -> str:
        """A helper op's name: `<result>__<what>`."""
        return self.fresh(f"{name}__{what}")

    def const(self, array: np.ndarray | float | Sequence, name: str, dtype: str = "f32") -> Var:
        """A constant tensor (float arrays as `dtype`, integer lists as int32)."""
        arr = np.asarray(array)
        if arr.dtype.kind == "f":
            arr = arr.astype(IR_TO_NP[dtype])
        elif arr.dtype.kind in "iu":
            arr = arr.astype(np.int32)
        return self.mb.const(val=arr, name=self.fresh(name))

    def transpose(self, x: Var, perm: Sequence[int], name: str) -> Var:
        return self.mb.transpose(x=x, perm=list(perm), name=name)

    # -- the program

    def build(self) -> Program:
        """The MIL program of the module's main function (a function `main`)."""
        from coremltools.converters.mil.mil import Function, Program

        self._refuse_unmapped()
        specs = {}
        for a in self.func.args:
            specs[self.fresh(a.name)] = self.mb.TensorSpec(shape=_static(a.name, a.type),
                                                           dtype=self._mil_type(a.type.dtype))
        with Function(specs, opset_version=self.ct.target.iOS16) as function:
            for a, name in zip(self.func.args, specs, strict=True):
                self.vars[id(a)] = function.inputs[name]
            for op in self.func.ops:
                self._emit(op)
            function.set_outputs(self._outputs())
        program = Program()
        program.add_function("main", function)
        return program

    def _mil_type(self, dtype: str) -> object:
        if dtype not in MIL_DTYPES:
            raise IrcError(f"an input of dtype {dtype} has no CoreML form (f32, f16, i32, i1)")
        return getattr(self.types, MIL_DTYPES[dtype])

    def _refuse_unmapped(self) -> None:
        refuse_unmapped(self.module, EMITTERS, "CoreML")

    def _emit(self, op: Op) -> None:
        if op.name == "nn.param":
            self.vars[id(op.result)] = self._param(op)
            return
        ins = [self.vars[id(v)] for v in op.operands]
        ins += [None] * (len(OPS[op.name].operands) - len(ins))
        names = [self.fresh(r.name) for r in op.results]
        for r in op.results:
            _static(r.name, r.type)
        try:
            out = EMITTERS[op.name](self, op, ins, names)
        except IrcError as e:
            raise IrcError(f"cannot emit %{op.results[0].name} = {op.name} as CoreML: {e}") from None
        except (ValueError, TypeError, NotImplementedError) as e:  # the MIL builder's checks
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise IrcError(f"cannot emit %{op.results[0].name} = {op.name} as CoreML: coremltools refuses it: "
                           f"{reason}") from e
        outs = out if isinstance(out, (list, tuple)) else [out]
        for r, v in zip(op.results, outs, strict=True):
            self.vars[id(r)] = v

    def _param(self, op: Op) -> Var:
        key = op.attrs["key"]
        if key not in self.params:
            store = self.module.weights
            arr = store.numpy(key)
            if arr.dtype.kind == "f" and arr.dtype != np.float16:
                arr = arr.astype(np.float32)
            elif arr.dtype == np.int64:  # CoreML tensors have no int64
                arr = arr.astype(np.int32)
            self.params[key] = self.mb.const(val=arr, name=self.fresh(key))
        return self.params[key]

    def _outputs(self) -> list:
        """The function's results; one returned twice, an input or a param returned, gets an identity named after
        the IR value (MIL names an output after the op computing it)."""
        outs, seen = [], set()
        args = {id(a) for a in self.func.args}
        for v in self.func.outputs:
            var = self.vars[id(v)]
            if id(var) in seen or id(v) in args or var.op is not None and var.op.op_type == "const":
                var = self.mb.identity(x=var, name=self.fresh(f"{v.name}_out"))
            seen.add(id(var))
            outs.append(var)
        return outs


def _static(name: str, ttype: TensorType) -> tuple:
    if any(d is None for d in ttype.shape):
        raise IrcError(f"%{name} has a dynamic shape {ttype}: CoreML emission needs static shapes "
                       "(import with a fixed batch)")
    return tuple(ttype.shape)


def unmapped_ops() -> list[str]:
    """Registry ops the CoreML emitter cannot write (for the gap test and the docs)."""
    return sorted(n for n in OPS if n not in EMITTERS and n != "nn.param" and not OPS[n].has("inlined"))


def spatial(fn: Handler) -> Handler:
    """Run an NCHW emitter for an nhwc op between transposes (and the weight of an op with a weight layout
    transposed from its nhwc layout to its nchw one): NCHW is CoreML's own layout."""

    @functools.wraps(fn)
    def wrapped(emitter: Emitter, op: Op, ins: list, names: list) -> object:
        if op.attrs["layout"] == "nchw":
            return fn(emitter, op, ins, names)
        name, rank = names[0], op.operands[0].type.rank
        to_nchw = activation_perm("nhwc", "nchw", rank)
        ins = list(ins)
        ins[0] = emitter.transpose(ins[0], to_nchw, emitter.tmp(name, "nchw_in"))
        opdef = OPS[op.name]
        if opdef.weight_layout is not None:
            ins[1] = emitter.transpose(ins[1], weight_perm(opdef, "nhwc", "nchw"), emitter.tmp(name, "oihw"))
        inner = fn(emitter, op, ins, [emitter.tmp(name, "nchw")])
        return emitter.transpose(inner, inverse(to_nchw), name)

    return wrapped
