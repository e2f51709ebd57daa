"""Element-wise ops (irc/ir/ops/elementwise.py): torch expressions."""

from __future__ import annotations

from ...ir.core import Op
from .base import DEFAULT, LAYERS, Ctx, call, emits, lit

CALLS = {"relu": "F.relu", "sigmoid": "torch.sigmoid", "tanh": "torch.tanh", "silu": "F.silu",
         "hardswish": "F.hardswish", "exp": "torch.exp", "log": "torch.log", "sqrt": "torch.sqrt",
         "rsqrt": "torch.rsqrt", "neg": "torch.neg", "abs": "torch.abs", "erf": "torch.erf", "sin": "torch.sin",
         "cos": "torch.cos", "tan": "torch.tan", "asin": "torch.asin", "acos": "torch.acos", "atan": "torch.atan",
         "floor": "torch.floor", "ceil": "torch.ceil", "round": "torch.round", "sign": "torch.sign",
         "logical_not": "torch.logical_not"}
OPERATORS = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
BINARY_CALLS = {"pow": "torch.pow", "maximum": "torch.maximum", "minimum": "torch.minimum",
                "logical_and": "torch.logical_and", "logical_or": "torch.logical_or",
                "logical_xor": "torch.logical_xor"}
COMPARISONS = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def _unary(fn: str):
    return lambda ctx, op: f"{fn}({ctx.arg(0)})"


def _operator(symbol: str):
    return lambda ctx, op: f"{ctx.arg(0)} {symbol} {ctx.arg(1)}"


def _binary(fn: str):
    return lambda ctx, op: f"{fn}({ctx.arg(0)}, {ctx.arg(1)})"


for _name, _fn in CALLS.items():
    emits(_name)(_unary(_fn))
for _name, _symbol in OPERATORS.items():
    emits(_name)(_operator(_symbol))
for _name, _fn in BINARY_CALLS.items():
    emits(_name)(_binary(_fn))


@emits("clamp")
def clamp(ctx: Ctx, op: Op) -> str:
    low, high = op.attrs.get("min"), op.attrs.get("max")
    if low == 0.0 and high == 6.0:
        return f"F.relu6({ctx.arg(0)})"
    return call("torch.clamp", ctx.arg(0), min=DEFAULT if low is None else low, max=DEFAULT if high is None else high)


@emits("leaky_relu")
def leaky_relu(ctx: Ctx, op: Op) -> str:
    return call("F.leaky_relu", ctx.arg(0), negative_slope=op.attrs["negative_slope"])


@emits("elu")
def elu(ctx: Ctx, op: Op) -> str:
    return call("F.elu", ctx.arg(0), alpha=op.attrs["alpha"])


@emits("gelu")
def gelu(ctx: Ctx, op: Op) -> str:
    return call("F.gelu", ctx.arg(0), approximate=op.attrs["approximate"])


@emits("hardsigmoid")
def hardsigmoid(ctx: Ctx, op: Op) -> str:
    attrs = op.attrs
    if attrs["alpha"] == 1 / 6 and attrs["beta"] == 0.5:
        return f"F.hardsigmoid({ctx.arg(0)})"
    return call("torch.clamp", f"{ctx.arg(0)} * {lit(attrs['alpha'])} + {lit(attrs['beta'])}", min=0.0, max=1.0)


@emits("softplus")
def softplus(ctx: Ctx, op: Op) -> str:
    return call("F.softplus", ctx.arg(0), beta=op.attrs["beta"], threshold=op.attrs["threshold"])


@emits("dropout", "identity")
def identity(ctx: Ctx, op: Op) -> str:
    return ctx.arg(0)


@emits("compare")
def compare(ctx: Ctx, op: Op) -> str:
    return f"{ctx.arg(0)} {COMPARISONS[op.attrs['predicate']]} {ctx.arg(1)}"


@emits("where")
def where(ctx: Ctx, op: Op) -> str:
    return f"torch.where({ctx.arg(0)}, {ctx.arg(1)}, {ctx.arg(2)})"


# (layer, whether it takes inplace=True: the source's ReLU(inplace=True) reuses the buffer of a fresh input)
_LAYERS = {"relu": ("nn.ReLU", True), "sigmoid": ("nn.Sigmoid", False), "silu": ("nn.SiLU", True),
           "hardswish": ("nn.Hardswish", True), "tanh": ("nn.Tanh", False)}


def _layer(name: str, can_inplace: bool):
    return lambda op, inplace: f"{name}(inplace=True)" if inplace and can_inplace else f"{name}()"


for _name, (_cls, _can) in _LAYERS.items():
    LAYERS.register(_name)(_layer(_cls, _can))


@LAYERS.register("clamp")
def clamp_layer(op: Op, inplace: bool) -> str | None:
    if op.attrs.get("min") == 0.0 and op.attrs.get("max") == 6.0:
        return "nn.ReLU6(inplace=True)" if inplace else "nn.ReLU6()"
    return None


@LAYERS.register("gelu")
def gelu_layer(op: Op, inplace: bool) -> str:
    return "nn.GELU()" if op.attrs["approximate"] == "none" else f"nn.GELU(approximate={lit(op.attrs['approximate'])})"
