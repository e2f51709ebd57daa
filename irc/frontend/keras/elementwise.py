"""Element-wise layers: Activation (and the `activation=` of other layers), ReLU, LeakyReLU, PReLU, ELU,
the merge layers (Add, Subtract, Multiply, Average, Maximum, Minimum), Rescaling and ConvNeXt's LayerScale."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ...ir import Value
from ..core import Unsupported
from .tables import imports

if TYPE_CHECKING:
    from .importer import KerasImporter

SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _selu(importer: KerasImporter, x: Value) -> Value:
    y = importer.emit("elu", [x], {"alpha": SELU_ALPHA})
    return importer.emit("mul", [y, importer.constant(SELU_SCALE)])


def _simple(kind: str, attrs: dict | None = None) -> Callable:
    return lambda importer, x: importer.emit(kind, [x], attrs)


# Keras activation name -> how to build it; Keras 3's formulas: hard_sigmoid = relu6(x + 3) / 6,
# hard_silu = x * hard_sigmoid(x), gelu(approximate=False), leaky_relu(negative_slope=0.2), elu(alpha=1)
ACTIVATIONS: dict[str, Callable] = {
    "relu": _simple("relu"),
    "relu6": _simple("clamp", {"min": 0.0, "max": 6.0}),
    "sigmoid": _simple("sigmoid"),
    "tanh": _simple("tanh"),
    "softmax": _simple("softmax", {"axis": -1}),
    "log_softmax": _simple("log_softmax", {"axis": -1}),
    "swish": _simple("silu"),
    "silu": _simple("silu"),
    "gelu": _simple("gelu"),
    "hard_sigmoid": _simple("hardsigmoid", {"alpha": 1 / 6, "beta": 0.5}),
    "hard_silu": _simple("hardswish"),
    "hard_swish": _simple("hardswish"),
    "elu": _simple("elu", {"alpha": 1.0}),
    "selu": _selu,
    "softplus": _simple("softplus"),
    "leaky_relu": _simple("leaky_relu", {"negative_slope": 0.2}),
    "exponential": _simple("exp"),
    "linear": lambda importer, x: x,
}


def activation_name(spec: object) -> str:
    """The name of a Keras activation given in a layer config (a string, or a serialised function)."""
    if spec is None:
        return "linear"
    if isinstance(spec, dict):
        spec = spec.get("config", spec.get("class_name"))
    if not isinstance(spec, str):
        raise Unsupported(f"activation {spec!r} is not a built-in Keras activation")
    return spec


def apply_activation(importer: KerasImporter, x: Value, spec: object) -> Value:
    """`x` through the activation a layer config names (`activation=`)."""
    name = activation_name(spec)
    build = ACTIVATIONS.get(name)
    if build is None:
        raise Unsupported(f"activation '{name}' has no irc mapping (known: {', '.join(sorted(ACTIVATIONS))})")
    return build(importer, x)


@imports("Activation")
def activation(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    return apply_activation(importer, ins[0], importer.config("activation"))


@imports("ReLU")
def relu(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    max_value = importer.config("max_value")
    slope = float(importer.config("negative_slope") or 0.0)
    if float(importer.config("threshold") or 0.0) != 0.0:
        raise Unsupported("ReLU with a non-zero threshold has no irc mapping")
    x = ins[0]
    if slope == 0.0:
        if max_value is not None:
            return importer.emit("clamp", [x], {"min": 0.0, "max": float(max_value)})
        return importer.emit("relu", [x])
    y = importer.emit("leaky_relu", [x], {"negative_slope": slope})
    return y if max_value is None else importer.emit("clamp", [y], {"max": float(max_value)})


@imports("LeakyReLU")
def leaky_relu(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    slope = importer.config("negative_slope", importer.config("alpha", 0.3))
    return importer.emit("leaky_relu", [ins[0]], {"negative_slope": float(slope)})


@imports("ELU")
def elu(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    return importer.emit("elu", [ins[0]], {"alpha": float(importer.config("alpha", 1.0))})


@imports("PReLU")
def prelu(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    """relu(x) - alpha * relu(-x), alpha of the layer's (broadcast) shape."""
    x = ins[0]
    alpha = importer.weight(layer.alpha)
    pos = importer.emit("relu", [x])
    neg = importer.emit("relu", [importer.emit("neg", [x])])
    return importer.emit("sub", [pos, importer.emit("mul", [alpha, neg])])


def _fold(kind: str) -> Callable:
    def merge(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
        y = ins[0]
        for x in ins[1:]:
            y = importer.emit(kind, [y, x])
        return y

    return merge


for _key, _kind in (("Add", "add"), ("Subtract", "sub"), ("Multiply", "mul"), ("Maximum", "maximum"),
                    ("Minimum", "minimum")):
    imports(_key)(_fold(_kind))


def _binary_op(kind: str) -> Callable:
    """keras.ops.add(a, b) and the like called on two tensors in a functional model (ConvNeXt's residual)."""
    def binary(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
        if len(ins) != 2:
            raise Unsupported(f"keras.ops with {len(ins)} tensor operand(s) (only two tensors are supported)")
        return importer.emit(kind, ins)

    return binary


for _key, _kind in (("Add", "add"), ("Subtract", "sub"), ("Multiply", "mul"), ("Maximum", "maximum"),
                    ("Minimum", "minimum")):
    imports(f"keras.ops.{_key}")(_binary_op(_kind))


@imports("Average")
def average(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    total = _fold("add")(importer, layer, ins)
    return importer.emit("mul", [total, importer.constant(1.0 / len(ins))])


@imports("Rescaling")
def rescaling(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    scale = np.asarray(importer.config("scale", 1.0), np.float32)
    offset = np.asarray(importer.config("offset", 0.0), np.float32)
    y = ins[0]
    if not (scale == 1.0).all():
        y = importer.emit("mul", [y, importer.constant(scale, what="scale")])
    if not (offset == 0.0).all():
        y = importer.emit("add", [y, importer.constant(offset, what="offset")])
    return y


@imports("LayerScale")
def layer_scale(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    """ConvNeXt's LayerScale: x * gamma over the last axis."""
    return importer.emit("mul", [ins[0], importer.weight(layer.gamma)])
