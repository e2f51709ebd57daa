"""ncnn for element-wise ops (irc/ir/ops/elementwise.py).

Activations map to ncnn's own layers (ReLU with a slope for leaky_relu, Clip, Sigmoid, TanH, HardSwish,
HardSigmoid, Swish for silu, GELU, ELU, Softplus, Erf) or UnaryOp; the ones a Convolution/InnerProduct can
apply are also registered in ACTIVATIONS (ncnn activation_type 1 relu, 2 leaky relu, 3 clip, 4 sigmoid,
6 hardswish). Binary ops: two blobs of one shape are an Eltwise (add, mul, maximum) or BinaryOp; a one-element
constant is BinaryOp's scalar (RSUB/RDIV/RPOW when it is the left operand; x ** 2, x ** 0.5 and x ** -1 are
UnaryOp SQUARE/SQRT/RECIPROCAL, since ncnn's pow is NaN for a negative base); otherwise both operands are brought
to the result's rank (a constant as a MemoryData of that shape, a blob through a Reshape), size-1 dims
broadcasting the same-rank way ncnn does.
"""

from __future__ import annotations

from collections.abc import Callable

from ...ir import IrcError, Op
from .emitter import Emitter, Handler, emits, fuses

FLT_MAX = 3.4028234663852886e38
UNARY = {"abs": 0, "neg": 1, "floor": 2, "ceil": 3, "sqrt": 5, "rsqrt": 6, "exp": 7, "log": 8, "sin": 9, "cos": 10,
         "tan": 11, "asin": 12, "acos": 13, "atan": 14}  # IR op -> ncnn UnaryOp op_type
BINARY = {"add": 0, "sub": 1, "mul": 2, "div": 3, "maximum": 4, "minimum": 5, "pow": 6}  # -> BinaryOp op_type
REVERSED = {1: 7, 3: 8, 6: 9}  # sub, div, pow with the scalar on the left: RSUB, RDIV, RPOW
POWERS = {2.0: 4, 0.5: 5, -1.0: 15}  # x ** p as UnaryOp SQUARE, SQRT, RECIPROCAL
ELTWISE = {"add": 1, "mul": 0, "maximum": 2}  # -> Eltwise op_type (SUM, PROD, MAX)


def _one(emitter: Emitter, op: Op, kind: str, params: dict | None = None) -> None:
    top = emitter.out(op)
    emitter.layer(kind, top, [emitter.blob(op.operands[0])], [top], params)


def simple(kind: str, params: Callable[[Op], dict] | None = None) -> Handler:
    """An emitter writing one ncnn layer of type `kind`; `params(op)` gives its params."""

    def emit(emitter: Emitter, op: Op) -> None:
        _one(emitter, op, kind, params(op) if params else None)

    return emit


def _clip(op: Op) -> dict:
    lo, hi = op.attrs.get("min"), op.attrs.get("max")
    return {0: -FLT_MAX if lo is None else lo, 1: FLT_MAX if hi is None else hi}


def _softplus(op: Op) -> dict:
    if op.attrs["beta"] != 1.0 or op.attrs["threshold"] < 20.0:
        raise IrcError("ncnn Softplus has no beta or threshold (only beta=1, threshold>=20)")
    return {}


emits("relu")(simple("ReLU"))
emits("leaky_relu")(simple("ReLU", lambda op: {0: op.attrs["negative_slope"]}))
emits("clamp")(simple("Clip", _clip))
emits("sigmoid")(simple("Sigmoid"))
emits("tanh")(simple("TanH"))
emits("hardswish")(simple("HardSwish", lambda op: {0: 1.0 / 6, 1: 0.5}))
emits("hardsigmoid")(simple("HardSigmoid", lambda op: {0: op.attrs["alpha"], 1: op.attrs["beta"]}))
emits("silu")(simple("Swish"))
emits("gelu")(simple("GELU", lambda op: {0: int(op.attrs["approximate"] == "tanh")}))
emits("elu")(simple("ELU", lambda op: {0: op.attrs["alpha"]}))
emits("softplus")(simple("Softplus", _softplus))
emits("erf")(simple("Erf"))
for _ir, _code in UNARY.items():
    emits(_ir)(simple("UnaryOp", lambda op, code=_code: {0: code}))


@emits("identity", "dropout")
def _identity(emitter: Emitter, op: Op) -> None:
    emitter.alias(op.results[0], emitter.blob(op.operands[0]))


fuses("relu")(lambda op: (1, []))
fuses("leaky_relu")(lambda op: (2, [op.attrs["negative_slope"]]))
fuses("sigmoid")(lambda op: (4, []))
fuses("hardswish")(lambda op: (6, [1.0 / 6, 0.5]))


@fuses("clamp")
def _fused_clamp(op: Op) -> tuple | None:
    params = _clip(op)
    if op.attrs.get("max") is None and params[0] == 0.0:
        return 1, []
    return 3, [params[0], params[1]]


def _scalar(emitter: Emitter, op: Op) -> tuple | None:
    """(index of the one-element constant operand, its value), or None."""
    for i, v in enumerate(op.operands):
        arr = emitter.array(v)
        if arr is not None and arr.size == 1:
            return i, float(arr.reshape(()))
    return None


@emits(*BINARY)
def _binary(emitter: Emitter, op: Op) -> None:
    code = BINARY[op.kind]
    top = emitter.out(op)
    scalar = _scalar(emitter, op)
    if scalar is not None:
        at, value = scalar
        other = op.operands[1 - at]
        if emitter.is_constant(other):
            raise IrcError("both operands are constants (run fold-constants first)")
        code = REVERSED.get(code, code) if at == 0 else code
        if code == BINARY["pow"] and value in POWERS:  # ncnn's pow is exp(y log x): NaN for x < 0
            emitter.layer("UnaryOp", top, [emitter.blob(other)], [top], {0: POWERS[value]})
            return
        emitter.layer("BinaryOp", top, [emitter.blob(other)], [top], {0: code, 1: 1, 2: value})
        return
    lhs, rhs = op.operands
    result = op.results[0]
    rank, batch = result.type.rank, emitter.batch_axis(result)
    shapes = [emitter.without(v, batch, rank) for v in (lhs, rhs)]
    bottoms = [emitter.blob(v, s) for v, s in zip((lhs, rhs), shapes, strict=True)]
    computed = not any(emitter.is_constant(v) for v in (lhs, rhs))
    if computed and shapes[0] == shapes[1] and op.kind in ELTWISE:
        emitter.layer("Eltwise", top, bottoms, [top], {0: ELTWISE[op.kind]})
        return
    emitter.layer("BinaryOp", top, bottoms, [top], {0: code})

