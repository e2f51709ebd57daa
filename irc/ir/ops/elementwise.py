"""Element-wise ops: activations (one operand) and broadcasting arithmetic (two operands)."""

from __future__ import annotations

from typing import Callable

from ..core import Op, TensorType, Value
from .registry import ABSENT, Attr, PatternRewriter, ShapeError, broadcast_shapes, define, need_float, same_dtype

UNARY_TRAITS = ("elementwise", "unary")


def infer_unary(ins: list[TensorType], attrs: dict) -> TensorType:
    return ins[0]


def infer_unary_float(ins: list[TensorType], attrs: dict) -> TensorType:
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
           traits=UNARY_TRAITS, doc=f"Element-wise {_doc}.")


def _check_clamp(ins, attrs):
    lo, hi = attrs.get("min"), attrs.get("max")
    if lo is None and hi is None:
        raise ShapeError("nn.clamp needs 'min', 'max' or both")
    if lo is not None and hi is not None and lo > hi:
        raise ShapeError(f"nn.clamp min {lo} is greater than max {hi}")


define("clamp", "elementwise", ("input",), [Attr("min", "float", ABSENT), Attr("max", "float", ABSENT)],
       infer_unary, _check_clamp, traits=UNARY_TRAITS,
       doc="Element-wise clamp to [min, max] (either may be absent); ReLU6 is clamp(0, 6).")
define("leaky_relu", "elementwise", ("input",), [Attr("negative_slope", "float", 0.01)], infer_unary_float,
       traits=UNARY_TRAITS,
       doc="x if x >= 0 else negative_slope * x.")
define("elu", "elementwise", ("input",), [Attr("alpha", "float", 1.0)], infer_unary_float, traits=UNARY_TRAITS,
       doc="x if x > 0 else alpha * (exp(x) - 1).")
define("gelu", "elementwise", ("input",), [Attr("approximate", "enum", "none", ("none", "tanh"))], infer_unary_float,
       traits=UNARY_TRAITS,
       doc="Gaussian error linear unit, exact (erf) or tanh-approximated.")
define("hardsigmoid", "elementwise", ("input",),
       [Attr("alpha", "float", 1 / 6), Attr("beta", "float", 0.5)], infer_unary_float, traits=UNARY_TRAITS,
       doc="clamp(alpha * x + beta, 0, 1); PyTorch's hardsigmoid is alpha=1/6, beta=0.5 (ONNX's default is 0.2).")
define("softplus", "elementwise", ("input",), [Attr("beta", "float", 1.0), Attr("threshold", "float", 20.0)],
       infer_unary_float, traits=UNARY_TRAITS,
       doc="log(1 + exp(beta * x)) / beta, linear above threshold (as in PyTorch).")


def drop_always(op: Op, rewriter: PatternRewriter) -> bool:
    """An op that returns its operand at inference is replaced by it."""
    return rewriter.forward(op, op.operands[0])


define("dropout", "elementwise", ("input",), [Attr("p", "float", 0.5)], infer_unary,
       traits=("movement",) + UNARY_TRAITS, canonical=(drop_always,),
       doc="Dropout; an identity at inference, kept so that the source's structure stays visible.")
define("identity", "elementwise", ("input",), (), infer_unary, traits=("movement",) + UNARY_TRAITS,
       canonical=(drop_always,), doc="Returns its operand unchanged.")


def infer_binary(ins: list[TensorType], attrs: dict) -> TensorType:
    same_dtype(ins)
    return ins[0].with_shape(broadcast_shapes([t.shape for t in ins]))


def _all_equal(rewriter: PatternRewriter, v: Value, value: float) -> bool:
    arr = rewriter.constant(v)
    return arr is not None and arr.size > 0 and bool((arr == value).all())


def drop_neutral_rhs(neutral: float) -> Callable:
    """x op c is x when the constant c is all `neutral` and the result has exactly x's type."""
    def pattern(op: Op, rewriter: PatternRewriter) -> bool:
        lhs, rhs = op.operands
        return lhs.type == op.result.type and _all_equal(rewriter, rhs, neutral) and rewriter.forward(op, lhs)
    return pattern


def drop_neutral_lhs(neutral: float) -> Callable:
    """c op x is x when the constant c is all `neutral` and the result has exactly x's type."""
    def pattern(op: Op, rewriter: PatternRewriter) -> bool:
        lhs, rhs = op.operands
        return rhs.type == op.result.type and _all_equal(rewriter, lhs, neutral) and rewriter.forward(op, rhs)
    return pattern


BINARY = {  # name: (doc, traits, canonicalisation patterns)
    "add": ("a + b", ("commutative",), (drop_neutral_rhs(0), drop_neutral_lhs(0))),
    "sub": ("a - b", (), (drop_neutral_rhs(0),)),
    "mul": ("a * b", ("commutative",), (drop_neutral_rhs(1), drop_neutral_lhs(1))),
    "div": ("a / b (true division)", (), (drop_neutral_rhs(1),)),
    "pow": ("a ** b", (), (drop_neutral_rhs(1),)),
    "maximum": ("max(a, b)", ("commutative",), ()),
    "minimum": ("min(a, b)", ("commutative",), ()),
}

for _name, (_doc, _traits, _patterns) in BINARY.items():
    define(_name, "elementwise", ("lhs", "rhs"), (), infer_binary, traits=("elementwise",) + _traits,
           canonical=_patterns,
           doc=f"Element-wise {_doc} with NumPy broadcasting; both operands have the same element type.")


# ----------------------------------------------------------------------------- more unary math

MORE_UNARY = {  # float in, float out: torch's and ONNX's functions of the same name
    "sin": "sine",
    "cos": "cosine",
    "tan": "tangent",
    "asin": "arcsine",
    "acos": "arccosine",
    "atan": "arctangent",
    "floor": "round down to an integer value",
    "ceil": "round up to an integer value",
    "round": "round to the nearest integer value, halves to even (torch.round, ONNX Round)",
}

for _name, _doc in MORE_UNARY.items():
    define(_name, "elementwise", ("input",), (), infer_unary_float, traits=UNARY_TRAITS, doc=f"Element-wise {_doc}.")
define("sign", "elementwise", ("input",), (), infer_unary, traits=UNARY_TRAITS,
       doc="Element-wise sign: -1, 0 or 1 (of the operand's type).")


# ----------------------------------------------------------------------------- comparisons and boolean logic

PREDICATES = ("eq", "ne", "lt", "le", "gt", "ge")


def infer_compare(ins: list[TensorType], attrs: dict) -> TensorType:
    return infer_binary(ins, attrs).with_dtype("i1")


define("compare", "elementwise", ("lhs", "rhs"), [Attr("predicate", "enum", choices=PREDICATES)], infer_compare,
       traits=("elementwise",),
       doc="Element-wise comparison lhs PREDICATE rhs (eq ==, ne !=, lt <, le <=, gt >, ge >=) with NumPy "
           "broadcasting; both operands have the same element type, the result is i1.")


def _need_bool(ins: list[TensorType]) -> None:
    for t in ins:
        if t.dtype != "i1":
            raise ShapeError(f"operands must be i1 (boolean), got {t}")


def infer_logical(ins: list[TensorType], attrs: dict) -> TensorType:
    _need_bool(ins)
    return infer_binary(ins, attrs)


def infer_logical_not(ins: list[TensorType], attrs: dict) -> TensorType:
    _need_bool(ins)
    return ins[0]


for _name, _doc in {"logical_and": "a and b", "logical_or": "a or b", "logical_xor": "a xor b"}.items():
    define(_name, "elementwise", ("lhs", "rhs"), (), infer_logical, traits=("elementwise", "commutative"),
           doc=f"Element-wise boolean {_doc} of two i1 operands, with NumPy broadcasting.")
define("logical_not", "elementwise", ("input",), (), infer_logical_not, traits=UNARY_TRAITS,
       doc="Element-wise boolean not of an i1 operand.")


def infer_select(ins: list[TensorType], attrs: dict) -> TensorType:
    cond, lhs, rhs = ins
    if cond.dtype != "i1":
        raise ShapeError(f"condition must be i1 (boolean), got {cond}")
    same_dtype([lhs, rhs])
    return lhs.with_shape(broadcast_shapes([cond.shape, lhs.shape, rhs.shape]))


define("where", "elementwise", ("condition", "lhs", "rhs"), (), infer_select, traits=("elementwise",),
       doc="Element-wise lhs where condition else rhs (torch.where, ONNX Where), the three operands broadcast; "
           "masked_fill is a where.")
