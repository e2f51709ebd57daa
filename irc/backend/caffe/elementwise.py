"""Activations and element-wise arithmetic.

Two activations of one shape: Eltwise (SUM, PROD, MAX; a difference is SUM with coeff 1, -1). An
activation and a weight: a scalar is a Power layer (scale or shift), a per-channel weight ([C, 1, ...] or
[1, C, 1, ...]) a Scale layer (an add: gamma ones and the weight as its bias). dropout and identity are
Dropout layers (identities at inference).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ...ir import Op
from .emitter import CaffeEmitter, Refused, emits


def _simple(kind: str, **params: object) -> Callable:
    def emit(emitter: CaffeEmitter, op: Op, ins: list, outs: list) -> None:
        if ins[0] is None:
            raise Refused("the input is a weight")
        emitter.layer(kind, outs[0], ins[:1], outs, **{k: v(op) if callable(v) else v for k, v in params.items()})
    return emit


emits("relu")(_simple("ReLU"))
emits("leaky_relu")(_simple("ReLU", relu_param=lambda op: {"negative_slope": op.attrs["negative_slope"]}))
emits("sigmoid")(_simple("Sigmoid"))
emits("tanh")(_simple("TanH"))
emits("abs")(_simple("AbsVal"))
emits("elu")(_simple("ELU", elu_param=lambda op: {"alpha": op.attrs["alpha"]}))
emits("dropout", "identity")(_simple("Dropout"))


def _channel_vector(op: Op, weight: np.ndarray) -> np.ndarray | None:
    """The weight as one value per channel (axis 1 of the activation, by right-aligned broadcasting), or None."""
    x = op.results[0].type
    if x.rank < 2 or weight.ndim > x.rank:
        return None
    shape = (1,) * (x.rank - weight.ndim) + weight.shape
    if any(d != 1 for i, d in enumerate(shape) if i != 1) or shape[1] != x.shape[1]:
        return None
    return weight.reshape(-1)


def _with_weight(emitter: CaffeEmitter, op: Op, ins: list, outs: list) -> None:
    """mul/add/sub/pow of an activation and a weight: Power for a scalar, Scale for one value per channel."""
    kind = op.name.removeprefix("nn.")
    which = 0 if ins[0] is not None else 1
    if op.operands[which].type.shape != op.results[0].type.shape:
        raise Refused("the activation is broadcast: Caffe layers keep their input's shape")
    weight = emitter.array(op.operands[1 - which])
    if (kind in ("sub", "pow")) and which == 1:
        raise Refused(f"the weight is the {'minuend' if kind == 'sub' else 'base'}")
    sign = -1.0 if kind == "sub" else 1.0
    if weight.size == 1:
        value = float(weight.reshape(-1)[0])
        param = {"mul": {"scale": value}, "pow": {"power": value}}.get(kind, {"shift": sign * value})
        emitter.layer("Power", outs[0], [ins[which]], outs, power_param=param)
        return
    vector = _channel_vector(op, weight) if kind != "pow" else None
    if vector is None:
        raise Refused(f"a weight of shape {list(weight.shape)} is neither a scalar nor one value per channel")
    ones = np.ones_like(vector)
    blobs = [vector] if kind == "mul" else [ones, sign * vector]
    emitter.layer("Scale", outs[0], [ins[which]], outs, blobs, scale_param={"bias_term": kind != "mul"})


ELTWISE = {"add": ("SUM", None), "sub": ("SUM", [1.0, -1.0]), "mul": ("PROD", None), "maximum": ("MAX", None)}


@emits("pow")
def power(emitter: CaffeEmitter, op: Op, ins: list, outs: list) -> None:
    if ins[0] is None or ins[1] is not None:
        raise Refused("only an activation to a constant power (Caffe's Power)")
    _with_weight(emitter, op, ins, outs)


@emits("add", "sub", "mul", "maximum")
def binary(emitter: CaffeEmitter, op: Op, ins: list, outs: list) -> None:
    kind = op.name.removeprefix("nn.")
    if None in ins:
        if kind == "maximum" or ins == [None, None]:
            raise Refused("an operand is a weight")
        _with_weight(emitter, op, ins, outs)
        return
    shapes = {v.type.shape for v in op.operands}
    if len(shapes) != 1:
        raise Refused(f"operands of shapes {sorted(shapes)}: Caffe's Eltwise does not broadcast")
    operation, coeff = ELTWISE[kind]
    param = {"operation": operation}
    if coeff is not None:
        param["coeff"] = coeff
    emitter.layer("Eltwise", outs[0], ins, outs, eltwise_param=param)
