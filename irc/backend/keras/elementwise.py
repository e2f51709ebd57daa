"""Keras for element-wise ops (irc/ir/ops/elementwise.py).

Activations with a Keras layer are that layer (ReLU, LeakyReLU, ELU, Activation("sigmoid"), ...); the rest are
keras.ops calls. A binary op on two computed tensors of one shape is a merge layer (Add, Subtract, Multiply,
Maximum, Minimum); with a constant or a broadcast it is the keras.ops function. Dropout and identity are the
value itself.
"""

from __future__ import annotations

from collections.abc import Callable

from ...ir import Op
from .emitter import KerasEmitter, emits, lit

# IR op -> the name Activation(...) takes
ACTIVATIONS = {"sigmoid": "sigmoid", "tanh": "tanh", "silu": "silu", "hardswish": "hard_silu", "exp": "exponential"}
# IR op -> keras.ops function
UNARY_OPS = {"neg": "negative", "abs": "absolute", "log": "log", "sqrt": "sqrt", "rsqrt": "rsqrt", "erf": "erf"}
# IR op -> (merge layer, keras.ops function)
BINARY = {"add": ("Add", "add"), "sub": ("Subtract", "subtract"), "mul": ("Multiply", "multiply"),
          "maximum": ("Maximum", "maximum"), "minimum": ("Minimum", "minimum"), "div": (None, "divide"),
          "pow": (None, "power")}


def _activation(name: str) -> Callable:
    def emit(emitter: KerasEmitter, op: Op) -> None:
        emitter.layer(op, "Activation", [repr(name)], emitter.tensor(op.operands[0]))

    return emit


def _unary(fn: str) -> Callable:
    def emit(emitter: KerasEmitter, op: Op) -> None:
        emitter.ops(op, fn, emitter.tensor(op.operands[0]))

    return emit


for _kind, _name in ACTIVATIONS.items():
    emits(_kind)(_activation(_name))
for _kind, _fn in UNARY_OPS.items():
    emits(_kind)(_unary(_fn))


def _binary(merge: str | None, fn: str) -> Callable:
    def emit(emitter: KerasEmitter, op: Op) -> None:
        lhs, rhs = op.operands
        same = lhs.type.shape == rhs.type.shape == op.results[0].type.shape
        computed = emitter.constant(lhs) is None and emitter.constant(rhs) is None
        ins = [emitter.tensor(lhs), emitter.tensor(rhs)]
        if merge is not None and same and computed and lhs is not rhs:
            emitter.layer(op, merge, [], ins)
        else:
            emitter.ops(op, fn, *ins)

    return emit


for _kind, (_merge, _fn) in BINARY.items():
    emits(_kind)(_binary(_merge, _fn))


@emits("relu")
def relu(emitter: KerasEmitter, op: Op) -> None:
    emitter.layer(op, "ReLU", [], emitter.tensor(op.operands[0]))


@emits("clamp")
def clamp(emitter: KerasEmitter, op: Op) -> None:
    """clamp(0, max) is ReLU(max_value=max); other bounds are keras.ops.clip / maximum / minimum."""
    low, high = op.attrs.get("min"), op.attrs.get("max")
    x = emitter.tensor(op.operands[0])
    if low == 0.0 and high is not None:
        emitter.layer(op, "ReLU", [f"max_value={lit(float(high))}"], x)
    elif low is not None and high is not None:
        emitter.ops(op, "clip", x, lit(float(low)), lit(float(high)))
    elif low is not None:
        emitter.ops(op, "maximum", x, lit(float(low)))
    elif high is not None:
        emitter.ops(op, "minimum", x, lit(float(high)))
    else:
        emitter.alias(op, x)


@emits("leaky_relu")
def leaky_relu(emitter: KerasEmitter, op: Op) -> None:
    emitter.layer(op, "LeakyReLU", [f"negative_slope={lit(float(op.attrs['negative_slope']))}"],
                  emitter.tensor(op.operands[0]))


@emits("elu")
def elu(emitter: KerasEmitter, op: Op) -> None:
    emitter.layer(op, "ELU", [f"alpha={lit(float(op.attrs['alpha']))}"], emitter.tensor(op.operands[0]))


@emits("gelu")
def gelu(emitter: KerasEmitter, op: Op) -> None:
    emitter.ops(op, "gelu", emitter.tensor(op.operands[0]), approximate=op.attrs["approximate"] == "tanh")


@emits("hardsigmoid")
def hardsigmoid(emitter: KerasEmitter, op: Op) -> None:
    """Keras' hard_sigmoid is relu6(x + 3) / 6 (alpha 1/6, beta 1/2); other slopes are clip(alpha*x + beta)."""
    alpha, beta = op.attrs["alpha"], op.attrs["beta"]
    x = emitter.tensor(op.operands[0])
    if abs(alpha - 1 / 6) < 1e-12 and beta == 0.5:
        emitter.layer(op, "Activation", ["'hard_sigmoid'"], x)
        return
    scaled = emitter.assign(op.results[0].name + "_affine", f"keras.ops.add(keras.ops.multiply({x}, {lit(alpha)}), "
                            f"{lit(beta)})", "multiply")
    emitter.op_names.add("add")
    emitter.ops(op, "clip", scaled, "0.0", "1.0")


@emits("softplus")
def softplus(emitter: KerasEmitter, op: Op) -> None:
    """beta = 1 is Activation('softplus') (PyTorch's threshold 20 returns x there; equal in f32)."""
    beta = op.attrs["beta"]
    x = emitter.tensor(op.operands[0])
    if beta == 1.0:
        emitter.layer(op, "Activation", ["'softplus'"], x)
        return
    scaled = emitter.assign(op.results[0].name + "_scaled", f"keras.ops.softplus(keras.ops.multiply({x}, "
                            f"{lit(beta)}))", "softplus")
    emitter.op_names.add("multiply")
    emitter.ops(op, "divide", scaled, lit(beta))


@emits("dropout", "identity")
def passthrough(emitter: KerasEmitter, op: Op) -> None:
    emitter.alias(op, emitter.tensor(op.operands[0]))
