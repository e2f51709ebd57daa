"""The torch executor: runs verified IR on torch tensors.

The function is compiled once into Python from the op → torch mapping in `torchops` (the same
expressions the PyTorch emitter writes), then called like any function. Parameters come from the
module's weight store; `nn.param` ops become reads of a list.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..ir import Module
from ..ir.weights import IR_TO_NP
from .torchops import HELPERS, Ctx, expression
from .torchops.base import HELPER_DEPS


def weight_tensor(store, key: str) -> torch.Tensor:
    """A torch tensor for a weight-store entry (shares memory with the file's mapping where it can)."""
    ty = store.type_of(key)
    arr = store.numpy(key)
    if ty.dtype == "bf16":
        return torch.from_numpy(np.array(arr, dtype=np.int16)).view(torch.bfloat16)
    if not arr.flags.writeable:
        arr = np.array(arr, dtype=IR_TO_NP[ty.dtype])
    return torch.from_numpy(arr)


def helper_source(names) -> str:
    """Source of the requested helpers and what they depend on, dependencies first, sorted."""
    done, out = set(), []

    def add(n):
        if n in done:
            return
        done.add(n)
        for d in HELPER_DEPS.get(n, ()):
            add(d)
        out.append(HELPERS[n])

    for n in sorted(names):
        add(n)
    return "\n\n".join(out)


def compile_func(module: Module, func=None):
    """Python source for `func` (default: forward) as `def run(P, *inputs)`, and the param keys P holds."""
    func = func or module.main
    names: dict[int, str] = {}
    lines, keys, helpers = [], [], set()
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
        ctx = Ctx([names[id(v)] for v in op.operands])
        expr = expression(ctx, op)
        helpers |= ctx.helpers
        target = ", ".join(outs) + ("," if len(outs) == 1 and op.kind == "split" else "")
        lines.append(f"    {target} = {expr}")
    rets = ", ".join(names[id(v)] for v in func.outputs)
    lines.append(f"    return ({rets}{',' if len(func.outputs) == 1 else ''})")
    args = ", ".join(f"a{i}" for i in range(len(func.args)))
    src = helper_source(helpers) + "\n\n" + f"def run(P, {args}):\n" + "\n".join(lines) + "\n"
    return src, keys


class Executor:
    """`Executor(module)(*tensors)` → tuple of output tensors."""

    def __init__(self, module: Module, func=None):
        self.source, keys = compile_func(module, func)
        self.params = [weight_tensor(module.weights, k) for k in keys]
        namespace = {"torch": torch, "F": F}
        exec(compile(self.source, f"<irc executor {module.name}>", "exec"), namespace)
        self._run = namespace["run"]

    def __call__(self, *inputs):
        with torch.no_grad():
            return self._run(self.params, *inputs)


def run(module: Module, *inputs):
    """Run the module's forward function on torch tensors; returns a tuple of outputs."""
    return Executor(module)(*inputs)
