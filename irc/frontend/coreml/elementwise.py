"""MIL elementwise ops and activations → IR (irc/ir/ops/elementwise.py): binary ops broadcast alike; relu6
and clip are clamps; sigmoid_hard is hardsigmoid; gelu's EXACT and TANH_APPROXIMATION modes map (its sigmoid
approximation does not); equal / less / ... are nn.compare, select is nn.where."""

from __future__ import annotations

from ..core import Unsupported
from .importer import CoremlImporter, imports

BINARY = {"add": "add", "sub": "sub", "mul": "mul", "real_div": "div", "pow": "pow", "maximum": "maximum",
          "minimum": "minimum"}  # MIL op -> IR op
UNARY = {"relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "silu": "silu", "abs": "abs", "exp": "exp",
         "log": "log", "sqrt": "sqrt", "erf": "erf", "identity": "identity", "ceil": "ceil", "floor": "floor",
         "sign": "sign", "sin": "sin", "cos": "cos", "tan": "tan", "asin": "asin", "acos": "acos", "atan": "atan",
         "logical_not": "logical_not"}
LOGICAL = {"logical_and": "logical_and", "logical_or": "logical_or", "logical_xor": "logical_xor"}
COMPARE = {"equal": "eq", "not_equal": "ne", "less": "lt", "less_equal": "le", "greater": "gt",
           "greater_equal": "ge"}  # MIL op -> nn.compare's predicate
GELU_MODES = {"EXACT": "none", "TANH_APPROXIMATION": "tanh"}


def _binary(kind: str):
    def handler(importer: CoremlImporter, op: object) -> object:
        return importer.emit(kind, [importer.value(op.inputs["x"]), importer.value(op.inputs["y"])])

    return handler


def _unary(kind: str, **fixed):
    def handler(importer: CoremlImporter, op: object) -> object:
        return importer.emit(kind, [importer.value(op.inputs["x"])], dict(fixed) or None)

    return handler


for _mil, _ir in {**BINARY, **LOGICAL}.items():
    imports(_mil)(_binary(_ir))
for _mil, _ir in UNARY.items():
    imports(_mil)(_unary(_ir))
imports("relu6")(_unary("clamp", min=0.0, max=6.0))


@imports("rsqrt")
def _rsqrt(importer: CoremlImporter, op: object) -> object:
    if float(importer.attr(op, "epsilon", 1e-12) or 0.0) > 1e-12:
        raise Unsupported("rsqrt with an epsilon above 1e-12")
    return importer.emit("rsqrt", [importer.value(op.inputs["x"])])


@imports("leaky_relu")
def _leaky_relu(importer: CoremlImporter, op: object) -> object:
    return importer.emit("leaky_relu", [importer.value(op.inputs["x"])],
                         {"negative_slope": float(importer.attr(op, "alpha", 0.01))})


@imports("elu")
def _elu(importer: CoremlImporter, op: object) -> object:
    return importer.emit("elu", [importer.value(op.inputs["x"])], {"alpha": float(importer.attr(op, "alpha", 1.0))})


@imports("gelu")
def _gelu(importer: CoremlImporter, op: object) -> object:
    mode = importer.attr(op, "mode", "EXACT")
    if mode not in GELU_MODES:
        raise Unsupported(f"gelu mode {mode}")
    return importer.emit("gelu", [importer.value(op.inputs["x"])], {"approximate": GELU_MODES[mode]})


@imports("sigmoid_hard")
def _sigmoid_hard(importer: CoremlImporter, op: object) -> object:
    attrs = {"alpha": float(importer.attr(op, "alpha", 0.2)), "beta": float(importer.attr(op, "beta", 0.5))}
    return importer.emit("hardsigmoid", [importer.value(op.inputs["x"])], attrs)


@imports("softplus")
def _softplus(importer: CoremlImporter, op: object) -> object:
    return importer.emit("softplus", [importer.value(op.inputs["x"])])


@imports("clip")
def _clip(importer: CoremlImporter, op: object) -> object:
    return importer.emit("clamp", [importer.value(op.inputs["x"])],
                         {"min": float(importer.attr(op, "alpha")), "max": float(importer.attr(op, "beta"))})


def _compare(predicate: str):
    def handler(importer: CoremlImporter, op: object) -> object:
        return importer.emit("compare", [importer.value(op.inputs["x"]), importer.value(op.inputs["y"])],
                             {"predicate": predicate})

    return handler


for _mil, _predicate in COMPARE.items():
    imports(_mil)(_compare(_predicate))


@imports("select")
def _select(importer: CoremlImporter, op: object) -> object:
    operands = [importer.value(op.inputs[k]) for k in ("cond", "a", "b")]
    return importer.emit("where", operands)
