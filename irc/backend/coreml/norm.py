"""CoreML for normalisation and softmax (irc/ir/ops/norm.py).

batch_norm and layer_norm map one to one (a rank-2 batch_norm runs on [N, C, 1]); group_norm is a layer_norm
over [N, G, rest] then the per-channel affine; softmax is `softmax`, log_softmax `log(softmax(x))`.
"""

from __future__ import annotations

from ...ir import Op
from .emitter import Emitter, emits, spatial


@emits("batch_norm")
@spatial
def _batch_norm(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    mb, name = emitter.mb, names[0]
    x, gamma, beta, mean, var = ins
    eps = float(op.attrs["epsilon"])
    if op.operands[0].type.rank >= 3:
        return mb.batch_norm(x=x, mean=mean, variance=var, gamma=gamma, beta=beta, epsilon=eps, name=name)
    wide = mb.expand_dims(x=x, axes=[-1], name=emitter.tmp(name, "nc1"))
    normed = mb.batch_norm(x=wide, mean=mean, variance=var, gamma=gamma, beta=beta, epsilon=eps,
                           name=emitter.tmp(name, "bn"))
    return mb.squeeze(x=normed, axes=[-1], name=name)


@emits("layer_norm")
def _layer_norm(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    kw = {k: v for k, v in (("gamma", ins[1]), ("beta", ins[2])) if v is not None}
    return emitter.mb.layer_norm(x=ins[0], axes=list(op.attrs["axes"]), epsilon=float(op.attrs["epsilon"]),
                                 name=names[0], **kw)


@emits("group_norm")
def _group_norm(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    mb, name = emitter.mb, names[0]
    shape = list(op.operands[0].type.shape)
    groups = op.attrs["num_groups"]
    grouped = mb.reshape(x=ins[0], shape=[shape[0], groups, -1], name=emitter.tmp(name, "groups"))
    normed = mb.layer_norm(x=grouped, axes=[2], epsilon=float(op.attrs["epsilon"]), name=emitter.tmp(name, "norm"))
    out = mb.reshape(x=normed, shape=shape, name=name if ins[1] is None and ins[2] is None else emitter.tmp(name, "nc"))
    per_channel = [shape[1]] + [1] * (len(shape) - 2)
    for k, (operand, mil_op) in enumerate(((ins[1], "mul"), (ins[2], "add"))):
        if operand is None:
            continue
        last = k == 1 or ins[2] is None
        column = mb.reshape(x=operand, shape=per_channel, name=emitter.tmp(name, mil_op + "_c"))
        out = getattr(mb, mil_op)(x=out, y=column, name=name if last else emitter.tmp(name, mil_op))
    return out


@emits("softmax")
def _softmax(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    return emitter.mb.softmax(x=ins[0], axis=op.attrs["axis"], name=names[0])


@emits("log_softmax")
def _log_softmax(emitter: Emitter, op: Op, ins: list, names: list) -> object:
    soft = emitter.mb.softmax(x=ins[0], axis=op.attrs["axis"], name=emitter.tmp(names[0], "softmax"))
    return emitter.mb.log(x=soft, name=names[0])
