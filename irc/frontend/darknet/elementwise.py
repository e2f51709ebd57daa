"""Activations (the `activation=` of a layer), [shortcut] and [dropout].

Activations as Darknet and OpenCV compute them: leaky is a leaky ReLU of slope 0.1, logistic the sigmoid,
swish x * sigmoid(x), mish x * tanh(softplus(x)). OpenCV names the layer of layer i's activation after the
activation and i + 1 (`leaky_4` after `conv_3`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ...ir import Value
from ..core import Unsupported
from .importer import imports

if TYPE_CHECKING:
    from .cfg import Section
    from .importer import DarknetImporter

LEAKY_SLOPE = 0.1


def _simple(kind: str, attrs: dict | None = None) -> Callable:
    return lambda importer, x, suffix: importer.emit(kind, [x], attrs, suffix=suffix)


def _mish(importer: DarknetImporter, x: Value, suffix: str) -> Value:
    soft = importer.emit("softplus", [x], suffix=f"{suffix}_softplus")
    return importer.emit("mul", [x, importer.emit("tanh", [soft], suffix=f"{suffix}_tanh")], suffix=suffix)


# Darknet activation name -> how to build it: builder(importer, x, value-name suffix) -> Value
ACTIVATIONS: dict[str, Callable] = {
    "leaky": _simple("leaky_relu", {"negative_slope": LEAKY_SLOPE}),
    "relu": _simple("relu"),
    "tanh": _simple("tanh"),
    "logistic": _simple("sigmoid"),
    "swish": _simple("silu"),
    "mish": _mish,
}


def apply_activation(importer: DarknetImporter, section: Section, x: Value) -> Value:
    """`x` through the section's `activation=` (default linear)."""
    name = section.text("activation", "linear")
    if name == "linear":
        return x
    build = ACTIVATIONS.get(name)
    if build is None:
        known = ", ".join(["linear", *sorted(ACTIVATIONS)])
        raise Unsupported(f"activation={name} has no irc mapping (known: {known})")
    y = build(importer, x, name)
    importer.record(importer.opencv_name(name, 1), y)
    return y


def _match_channels(importer: DarknetImporter, other: Value, like: Value) -> Value:
    """`other` with the channels of `like`: cut, or zero-extended (Darknet adds the channels both have)."""
    have, want = other.type.shape[1], like.type.shape[1]
    if have > want:
        return importer.emit("slice", [other], {"axes": [1], "starts": [0], "ends": [want]}, suffix="from")
    if have < want:
        pads = [[0, 0], [0, want - have]] + [[0, 0]] * (other.type.rank - 2)
        return importer.emit("pad", [other], {"pads": pads}, suffix="from")
    return other


@imports("shortcut")
def shortcut(importer: DarknetImporter, section: Section) -> Value:
    """The previous layer's output plus layer `from`'s, then the activation."""
    x = importer.previous()
    sources = section.integers("from")
    if len(sources) != 1:
        raise Unsupported(f"from={section.text('from')}: a shortcut from several layers is not supported")
    for key in ("alpha", "beta"):
        if section.has(key):
            raise Unsupported(f"{key}= (a weighted shortcut) is not supported")
    if section.text("weights_type", "none") != "none":
        raise Unsupported(f"weights_type={section.text('weights_type')} is not supported")
    other = importer.layer(sources[0])
    if other.type.shape[2:] != x.type.shape[2:]:
        raise Unsupported(f"adding maps of different sizes ({other.type} to {x.type}) is not supported")
    y = importer.emit("add", [x, _match_channels(importer, other, x)], opencv=importer.opencv_name("shortcut"))
    return apply_activation(importer, section, y)


@imports("dropout")
def dropout(importer: DarknetImporter, section: Section) -> Value:
    """The identity at inference."""
    section.number("probability", 0.5)
    x = importer.previous()
    importer.record(importer.opencv_name("identity"), x)
    return x
