"""CoreML for linear algebra (irc/ir/ops/linalg.py): `linear` (weight [out, in], as PyTorch's) for inputs of
rank 1 to 3 (MIL's limit), else `matmul` with the weight transposed plus the bias; `matmul` one to one."""

from __future__ import annotations

from ...ir import Op
from .emitter import Emitter, emits

LINEAR_MAX_RANK = 3


@emits("linear")
def _linear(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    mb, name = emitter.mb, names[0]
    if op.operands[0].type.rank <= LINEAR_MAX_RANK:
        kw = {} if ins[2] is None else {"bias": ins[2]}
        return mb.linear(x=ins[0], weight=ins[1], name=name, **kw)
    if ins[2] is None:
        return mb.matmul(x=ins[0], y=ins[1], transpose_y=True, name=name)
    product = mb.matmul(x=ins[0], y=ins[1], transpose_y=True, name=emitter.tmp(name, "matmul"))
    return mb.add(x=product, y=ins[2], name=name)


@emits("matmul")
def _matmul(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    return emitter.mb.matmul(x=ins[0], y=ins[1], name=names[0])
