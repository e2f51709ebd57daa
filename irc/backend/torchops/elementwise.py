"""Torch expressions for element-wise ops (irc/ir/ops/elementwise.py)."""

from __future__ import annotations

from .base import lit, lower

CALLS = {"relu": "F.relu", "sigmoid": "torch.sigmoid", "tanh": "torch.tanh", "silu": "F.silu",
         "hardswish": "F.hardswish", "exp": "torch.exp", "log": "torch.log", "sqrt": "torch.sqrt",
         "rsqrt": "torch.rsqrt", "neg": "torch.neg", "abs": "torch.abs", "erf": "torch.erf"}


def _call(fn):
    return lambda ctx, op: f"{fn}({ctx.arg(0)})"


for _name, _fn in CALLS.items():
    lower(_name)(_call(_fn))


@lower("clamp")
def clamp(ctx, op):
    lo, hi = op.attrs.get("min"), op.attrs.get("max")
    if lo == 0.0 and hi == 6.0:
        return f"F.relu6({ctx.arg(0)})"
    return f"torch.clamp({ctx.arg(0)}, {lit(lo)}, {lit(hi)})"


@lower("leaky_relu")
def leaky_relu(ctx, op):
    return f"F.leaky_relu({ctx.arg(0)}, {lit(op.attrs['negative_slope'])})"


@lower("elu")
def elu(ctx, op):
    return f"F.elu({ctx.arg(0)}, {lit(op.attrs['alpha'])})"


@lower("gelu")
def gelu(ctx, op):
    return f"F.gelu({ctx.arg(0)}, approximate={lit(op.attrs['approximate'])})"


@lower("hardsigmoid")
def hardsigmoid(ctx, op):
    a = op.attrs
    if a["alpha"] == 1 / 6 and a["beta"] == 0.5:
        return f"F.hardsigmoid({ctx.arg(0)})"
    return f"torch.clamp({ctx.arg(0)} * {lit(a['alpha'])} + {lit(a['beta'])}, 0.0, 1.0)"


@lower("softplus")
def softplus(ctx, op):
    return f"F.softplus({ctx.arg(0)}, {lit(op.attrs['beta'])}, {lit(op.attrs['threshold'])})"


@lower("dropout", "identity")
def identity(ctx, op):
    return ctx.arg(0)


for _name, _sym in {"add": "+", "sub": "-", "mul": "*", "div": "/"}.items():
    lower(_name)(lambda ctx, op, _sym=_sym: f"{ctx.arg(0)} {_sym} {ctx.arg(1)}")

for _name, _fn in {"pow": "torch.pow", "maximum": "torch.maximum", "minimum": "torch.minimum"}.items():
    lower(_name)(lambda ctx, op, _fn=_fn: f"{_fn}({ctx.arg(0)}, {ctx.arg(1)})")
