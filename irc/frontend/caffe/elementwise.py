"""Activations, Power, Eltwise and Dropout.

PReLU is `relu(x) + slope * (x - relu(x))` with the slope per channel (or one, `channel_shared`); Power is
`(shift + scale * x) ^ power` with the trivial parts left out; Eltwise SUM multiplies each input by its
`coeff` first (none given: all 1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...ir import Value
from ..core import Unsupported
from .importer import imports

if TYPE_CHECKING:
    from .importer import CaffeImporter


@imports("ReLU")
def relu(importer: CaffeImporter, layer: object, ins: list[Value]) -> Value:
    slope = float(layer.proto.relu_param.negative_slope)
    if slope == 0:
        return importer.emit("relu", [ins[0]])
    return importer.emit("leaky_relu", [ins[0]], {"negative_slope": slope})


@imports("PReLU")
def prelu(importer: CaffeImporter, layer: object, ins: list[Value]) -> Value:
    x = ins[0]
    shape = (-1,) + (1,) * (x.type.rank - 2) if x.type.rank >= 2 else (-1,)
    slope = importer.blob(0, lambda a: a.reshape(shape))
    pos = importer.emit("relu", [x])
    neg = importer.emit("sub", [x, pos])
    return importer.emit("add", [pos, importer.emit("mul", [neg, slope])])


@imports("ELU")
def elu(importer: CaffeImporter, layer: object, ins: list[Value]) -> Value:
    return importer.emit("elu", [ins[0]], {"alpha": float(layer.proto.elu_param.alpha)})


@imports("Sigmoid")
def sigmoid(importer: CaffeImporter, layer: object, ins: list[Value]) -> Value:
    return importer.emit("sigmoid", [ins[0]])


@imports("TanH")
def tanh(importer: CaffeImporter, layer: object, ins: list[Value]) -> Value:
    return importer.emit("tanh", [ins[0]])


@imports("AbsVal")
def absval(importer: CaffeImporter, layer: object, ins: list[Value]) -> Value:
    return importer.emit("abs", [ins[0]])


@imports("Power")
def power(importer: CaffeImporter, layer: object, ins: list[Value]) -> Value:
    param = layer.proto.power_param
    y = ins[0]
    steps = [("mul", param.scale, 1.0), ("add", param.shift, 0.0), ("pow", param.power, 1.0)]
    for kind, value, neutral in steps:
        if float(value) != neutral:
            y = importer.emit(kind, [y, importer.constant(float(value))])
    return y if y is not ins[0] else importer.emit("identity", [y])


ELTWISE = {0: "mul", 1: "add", 2: "maximum"}


@imports("Eltwise")
def eltwise(importer: CaffeImporter, layer: object, ins: list[Value]) -> Value:
    param = layer.proto.eltwise_param
    kind = ELTWISE[param.operation]
    coeffs = list(param.coeff)
    if coeffs and (kind != "add" or len(coeffs) != len(ins)):
        raise Unsupported(f"{len(coeffs)} coeff for {len(ins)} inputs (coeff is for SUM, one per input)")
    terms = list(ins)
    if coeffs:
        terms = [x if c == 1 else importer.emit("mul", [x, importer.constant(float(c))])
                 for x, c in zip(terms, coeffs, strict=True)]
    y = terms[0]
    for x in terms[1:]:
        y = importer.emit(kind, [y, x])
    return y


@imports("Dropout")
def dropout(importer: CaffeImporter, layer: object, ins: list[Value]) -> Value:
    return importer.emit("dropout", [ins[0]], {"p": float(layer.proto.dropout_param.dropout_ratio)})
