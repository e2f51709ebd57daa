"""Element-wise TFLite operators: ADD/SUB/MUL/DIV (with their fused activation), MAXIMUM, MINIMUM, POW,
and the activations (RELU, RELU6 and RELU_N1_TO_1 as clamps, LOGISTIC as sigmoid, ...)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...ir import Value
from .importer import imports

if TYPE_CHECKING:
    from .importer import TfliteImporter

BINARY = {"ADD": "add", "SUB": "sub", "MUL": "mul", "DIV": "div"}
PLAIN_BINARY = {"MAXIMUM": "maximum", "MINIMUM": "minimum", "POW": "pow"}
UNARY = {"RELU": ("relu", {}), "RELU6": ("clamp", {"min": 0.0, "max": 6.0}),
         "RELU_N1_TO_1": ("clamp", {"min": -1.0, "max": 1.0}), "RELU_0_TO_1": ("clamp", {"min": 0.0, "max": 1.0}),
         "LOGISTIC": ("sigmoid", {}), "TANH": ("tanh", {}), "HARD_SWISH": ("hardswish", {}), "EXP": ("exp", {}),
         "LOG": ("log", {}), "SQRT": ("sqrt", {}), "RSQRT": ("rsqrt", {}), "NEG": ("neg", {}), "ABS": ("abs", {}),
         "ELU": ("elu", {})}


def _binary(kind: str):
    def handler(importer: TfliteImporter, operator: object) -> Value:
        options = importer.options
        act = getattr(options, "fusedActivationFunction", 0) if options is not None else 0
        return importer.emit(kind, [importer.input(0), importer.input(1)], act=act)

    return handler


def _plain_binary(kind: str):
    def handler(importer: TfliteImporter, operator: object) -> Value:
        return importer.emit(kind, [importer.input(0), importer.input(1)])

    return handler


def _unary(kind: str, attrs: dict):
    def handler(importer: TfliteImporter, operator: object) -> Value:
        return importer.emit(kind, [importer.input(0)], dict(attrs))

    return handler


for _name, _kind in BINARY.items():
    imports(_name)(_binary(_kind))
for _name, _kind in PLAIN_BINARY.items():
    imports(_name)(_plain_binary(_kind))
for _name, (_kind, _attrs) in UNARY.items():
    imports(_name)(_unary(_kind, _attrs))


@imports("SQUARE")
def square(importer: TfliteImporter, operator: object) -> Value:
    x = importer.input(0)
    return importer.emit("mul", [x, x])


@imports("LEAKY_RELU")
def leaky_relu(importer: TfliteImporter, operator: object) -> Value:
    return importer.emit("leaky_relu", [importer.input(0)], {"negative_slope": float(importer.options.alpha)})


@imports("GELU")
def gelu(importer: TfliteImporter, operator: object) -> Value:
    approximate = importer.options is not None and bool(importer.options.approximate)
    return importer.emit("gelu", [importer.input(0)], {"approximate": "tanh" if approximate else "none"})
