"""The torch executor: runs verified IR on torch tensors.

The function is compiled once into Python from the op → torch table (`EMITTERS`, the same
expressions the PyTorch emitter writes), then called like any function. Parameters come from the
module's weight store; `nn.param` ops become reads of a list. Ops without operands (constants) are
built once, when the executor is made, as the emitted model.py builds them once in `__init__`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ...ir import Module
from ...ir.core import Func
from ...ir.dtypes import IR_TO_NP
from ...ir.ops import OPS
from ...ir.structure import flatten
from ...ir.weights import WeightStore
from .base import Ctx, expression, helper_source


def weight_tensor(store: WeightStore, key: str) -> torch.Tensor:
    """A torch tensor for a weight-store entry (shares memory with the file's mapping where it can)."""
    ty = store.type_of(key)
    arr = store.numpy(key)
    if ty.dtype == "bf16":
        return torch.from_numpy(np.array(arr, dtype=np.int16)).view(torch.bfloat16)
    if not arr.flags.writeable:
        arr = np.array(arr, dtype=IR_TO_NP[ty.dtype])
    return torch.from_numpy(arr)


def compile_func(module: Module, func: Func | None = None, capture: bool = False) -> tuple[str, list[str], list[str]]:
    """Python source for `func` (default: forward) as `def run(P, C, *inputs)`, the param keys P holds
    and the expressions of the constants C holds.

    capture: make `run` a generator that yields `("IR value name", tensor)` after each op computes its
    results (not params nor constants), in execution order, and returns the outputs (`irc.bisect`'s
    IrRuntime); without it the source is exactly the plain executor's."""
    if func is None:
        module = flatten(module)
        func = module.main
    names: dict[int, str] = {}
    lines, keys, constants, helpers = [], [], [], set()
    for i, a in enumerate(func.args):
        names[id(a)] = f"a{i}"
    counter = 0
    for op in func.ops:
        outs = []
        for r in op.results:
            names[id(r)] = f"v{counter}"
            outs.append(f"v{counter}")
            counter += 1
        if op.name == "nn.param":
            keys.append(op.attrs["key"])
            lines.append(f"    {outs[0]} = P[{len(keys) - 1}]")
            continue
        if not op.operands and len(outs) == 1:
            constants.append(expression(Ctx([]), op))
            lines.append(f"    {outs[0]} = C[{len(constants) - 1}]")
            continue
        ctx = Ctx([names[id(v)] for v in op.operands])
        expr = expression(ctx, op)
        helpers |= ctx.helpers
        # a one-element tuple for an op whose number of results follows its attributes (a split into one)
        target = ", ".join(outs) + ("," if len(outs) == 1 and callable(OPS[op.name].num_results) else "")
        lines.append(f"    {target} = {expr}")
        if capture:
            lines.extend(f"    yield {r.name!r}, {o}" for r, o in zip(op.results, outs, strict=True))
    rets = ", ".join(names[id(v)] for v in func.outputs)
    lines.append(f"    return ({rets}{',' if len(func.outputs) == 1 else ''})")
    args = ", ".join(f"a{i}" for i in range(len(func.args)))
    src = helper_source(helpers) + "\n\n" + f"def run(P, C, {args}):\n" + "\n".join(lines) + "\n"
    return src, keys, constants


class Executor:
    """`Executor(module)(*tensors)` → tuple of output tensors."""

    def __init__(self, module: Module, func: Func | None = None):
        self.source, keys, constants = compile_func(module, func)
        self.params = [weight_tensor(module.weights, k) for k in keys]
        namespace = {"torch": torch, "F": F}
        exec(compile(self.source, f"<irc executor {module.name}>", "exec"), namespace)
        self._run = namespace["run"]
        self.constants = [eval(compile(expr, f"<irc constant {module.name}>", "eval"), namespace) for expr in constants]

    def __call__(self, *inputs: torch.Tensor) -> tuple:
        with torch.no_grad():
            return self._run(self.params, self.constants, *inputs)


def run(module: Module, *inputs: torch.Tensor) -> tuple:
    """Run the module's forward function on torch tensors; returns a tuple of outputs."""
    return Executor(module)(*inputs)
