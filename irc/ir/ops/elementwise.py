"""Element-wise ops: activations (one operand) and broadcasting arithmetic (two operands)."""

from __future__ import annotations

from .registry import Attr, ABSENT, ShapeError, broadcast_shapes, define, need_float, same_dtype


def infer_unary(ins, attrs):
    return ins[0]


def infer_unary_float(ins, attrs):
    need_float(ins[0])
    return ins[0]


UNARY = {
    "relu": "max(x, 0)",
    "sigmoid": "1 / (1 + exp(-x))",
    "tanh": "hyperbolic tangent",
    "silu": "x * sigmoid(x) (swish)",
    "hardswish": "x * relu6(x + 3) / 6",
    "exp": "e ** x",
    "log": "natural logarithm",
    "sqrt": "square root",
    "rsqrt": "1 / sqrt(x)",
    "neg": "-x",
    "abs": "|x|",
    "erf": "the error function",
}

for _name, _doc in UNARY.items():
    define(_name, "elementwise", ("input",), (), infer_unary if _name in ("relu", "neg", "abs") else infer_unary_float,
           doc=f"Element-wise {_doc}.")


def _check_clamp(ins, attrs):
    lo, hi = attrs.get("min"), attrs.get("max")
    if lo is None and hi is None:
        raise ShapeError("nn.clamp needs 'min', 'max' or both")
    if lo is not None and hi is not None and lo > hi:
        raise ShapeError(f"nn.clamp min {lo} is greater than max {hi}")


define("clamp", "elementwise", ("input",), [Attr("min", "float", ABSENT), Attr("max", "float", ABSENT)],
       infer_unary, _check_clamp, doc="Element-wise clamp to [min, max] (either may be absent); ReLU6 is clamp(0, 6).")
define("leaky_relu", "elementwise", ("input",), [Attr("negative_slope", "float", 0.01)], infer_unary_float,
       doc="x if x >= 0 else negative_slope * x.")
define("elu", "elementwise", ("input",), [Attr("alpha", "float", 1.0)], infer_unary_float,
       doc="x if x > 0 else alpha * (exp(x) - 1).")
define("gelu", "elementwise", ("input",), [Attr("approximate", "enum", "none", ("none", "tanh"))], infer_unary_float,
       doc="Gaussian error linear unit, exact (erf) or tanh-approximated.")
define("hardsigmoid", "elementwise", ("input",),
       [Attr("alpha", "float", 1 / 6), Attr("beta", "float", 0.5)], infer_unary_float,
       doc="clamp(alpha * x + beta, 0, 1); PyTorch's hardsigmoid is alpha=1/6, beta=0.5 (ONNX's default is 0.2).")
define("softplus", "elementwise", ("input",), [Attr("beta", "float", 1.0), Attr("threshold", "float", 20.0)],
       infer_unary_float, doc="log(1 + exp(beta * x)) / beta, linear above threshold (as in PyTorch).")
define("dropout", "elementwise", ("input",), [Attr("p", "float", 0.5)], infer_unary,
       doc="Dropout; an identity at inference, kept so that the source's structure stays visible.")
define("identity", "elementwise", ("input",), (), infer_unary, doc="Returns its operand unchanged.")


def infer_binary(ins, attrs):
    same_dtype(ins)
    return ins[0].with_shape(broadcast_shapes([t.shape for t in ins]))


for _name, _doc in {"add": "a + b", "sub": "a - b", "mul": "a * b", "div": "a / b (true division)",
                    "pow": "a ** b", "maximum": "max(a, b)", "minimum": "min(a, b)"}.items():
    define(_name, "elementwise", ("lhs", "rhs"), (), infer_binary,
           doc=f"Element-wise {_doc} with NumPy broadcasting; both operands have the same element type.")
