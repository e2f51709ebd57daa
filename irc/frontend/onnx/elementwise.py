"""Activations, element-wise arithmetic and math (and ImageScaler), comparisons, boolean logic and Where.

HardSigmoid keeps its alpha/beta (ONNX default 0.2/0.5, not PyTorch's 1/6). A comparison is nn.compare; a
Where over a Greater that reads as PyTorch's softplus threshold is nn.softplus (the comparison, unused then,
is erased), a Where that selects -inf by a boolean mask is an add of the mask's log, any other Where is
nn.where.
"""

from __future__ import annotations

import math

import numpy as np

from ...ir import Value
from ..core import Unsupported
from .tables import EXTRA_ATTRIBUTES, IMPORTERS, NEVER_FOLDED, imports
from .values import Const, ir_dtype, nice_float, scalar_array

UNARY = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Exp": "exp", "Log": "log", "Sqrt": "sqrt",
         "Neg": "neg", "Abs": "abs", "Erf": "erf", "HardSwish": "hardswish", "Sin": "sin", "Cos": "cos",
         "Tan": "tan", "Asin": "asin", "Acos": "acos", "Atan": "atan", "Floor": "floor", "Ceil": "ceil",
         "Round": "round", "Sign": "sign"}
BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Pow": "pow", "Max": "maximum", "Min": "minimum",
          "Sum": "add", "And": "logical_and", "Or": "logical_or", "Xor": "logical_xor"}
COMPARISONS = {"Equal": "eq", "Less": "lt", "LessOrEqual": "le", "Greater": "gt", "GreaterOrEqual": "ge"}

NEVER_FOLDED.update({"Identity", "Dropout"})  # they only pass a value on; a folded copy would lose its key
EXTRA_ATTRIBUTES["Dropout"] = {"is_test"}  # opsets 1-6; some exporters kept writing is_test=1


def _unary(kind):
    def unary(importer, node):
        return importer.emit(kind, [importer.val(0)])
    return unary


def _binary(kind):
    def binary(importer, node):
        """Variadic (Sum, Max, Min) folds left; Pow's exponent is cast to the base's element type."""
        vals = [importer.val(i) for i in range(len(node.input)) if node.input[i]]
        if node.op_type == "Pow" and vals[1].type.dtype != vals[0].type.dtype:
            vals[1] = importer.emit("cast", [vals[1]], {"dtype": vals[0].type.dtype},
                                    name=importer.base_name(node) + "_exp")
        y = vals[0]
        for v in vals[1:]:
            y = importer.emit(kind, [y, v])
        return y
    return binary


for _op_type, _kind in UNARY.items():
    IMPORTERS.register(_op_type)(_unary(_kind))
for _op_type, _kind in BINARY.items():
    IMPORTERS.register(_op_type)(_binary(_kind))


@imports("Mean")
def _mean(importer, node):
    vals = [importer.val(i) for i in range(len(node.input))]
    y = vals[0]
    for v in vals[1:]:
        y = importer.emit("add", [y, v])
    n = importer.as_value(Const(scalar_array(len(vals), y.type.dtype)), "count")
    return importer.emit("div", [y, n])


@imports("Reciprocal")
def _reciprocal(importer, node):
    x = importer.val(0)
    if x.owner is not None and x.owner.name == "nn.sqrt" and len(x.uses) == 0:  # 1 / sqrt(v): rsqrt
        return importer.emit("rsqrt", [x.owner.operands[0]])  # the sqrt, unused now, is erased at the end
    one = importer.as_value(Const(scalar_array(1, x.type.dtype)), "one")
    return importer.emit("div", [one, x])


@imports("Not")
def _not(importer, node):
    x = importer.val(0)
    if x.owner is not None and x.owner.name == "nn.compare" and x.owner.attrs["predicate"] == "eq" \
            and len(x.uses) == 0:  # not (a == b): a != b (the Equal, unused now, is erased at the end)
        return importer.emit("compare", list(x.owner.operands), {"predicate": "ne"})
    return importer.emit("logical_not", [x])


@imports("Identity", "Dropout")
def _identity(importer, node):
    if node.op_type == "Dropout" and importer.inp(2) is not None and importer.const(2, "training_mode").any():
        raise Unsupported("training_mode=True")
    if importer.attr("is_test", 1) == 0:
        raise Unsupported("is_test=0 (training mode)")
    return [importer.inp(0), None]


@imports("ImageScaler")
def _image_scaler(importer, node):
    """ImageScaler (an experimental op of opsets 1-9, written by CoreML and CNTK converters): x * scale + bias[c]."""
    x = importer.val(0)
    base, dtype = importer.base_name(node), x.type.dtype
    bias = [float(b) for b in importer.attr("bias", [])]
    if x.type.rank != 4 or (bias and x.type.shape[1] not in (None, len(bias))):
        raise Unsupported(f"ImageScaler with {len(bias)} biases on {x.type}")
    scale = importer.as_value(Const(scalar_array(importer.attr("scale", 1.0), dtype)), "scale")
    y = importer.emit("mul", [x, scale], name=base + "_scaled" if bias else base)
    if not bias:
        return y
    shift = Const(np.asarray(bias, dtype=scalar_array(0, dtype).dtype).reshape(1, len(bias), 1, 1))
    return importer.emit("add", [y, importer.as_value(shift, base + ".bias")])


@imports("LeakyRelu")
def _leaky_relu(importer, node):
    return importer.emit("leaky_relu", [importer.val(0)], {"negative_slope": float(importer.attr("alpha", 0.01))})


@imports("Elu")
def _elu(importer, node):
    return importer.emit("elu", [importer.val(0)], {"alpha": float(importer.attr("alpha", 1.0))})


@imports("HardSigmoid")
def _hardsigmoid(importer, node):
    return importer.emit("hardsigmoid", [importer.val(0)], {"alpha": float(importer.attr("alpha", 0.2)),
                                                            "beta": float(importer.attr("beta", 0.5))})


@imports("Softplus")
def _softplus(importer, node):
    # ONNX Softplus has no threshold; PyTorch's default 20 differs from the exact formula by < 3e-9
    return importer.emit("softplus", [importer.val(0)])


@imports("Gelu")
def _gelu(importer, node):
    return importer.emit("gelu", [importer.val(0)], {"approximate": importer.attr("approximate", "none")})


@imports("Mish")
def _mish(importer, node):
    x = importer.val(0)
    sp = importer.emit("softplus", [x], name=importer.base_name(node) + "_softplus")
    return importer.emit("mul", [x, importer.emit("tanh", [sp], name=importer.base_name(node) + "_tanh")])


@imports("PRelu")
def _prelu(importer, node):
    x, slope = importer.val(0), importer.val(1)
    base = importer.base_name(node)
    zero = importer.as_value(Const(scalar_array(0, x.type.dtype)), "zero")
    pos = importer.emit("relu", [x], name=base + "_pos")
    neg = importer.emit("minimum", [x, zero], name=base + "_neg")
    return importer.emit("add", [pos, importer.emit("mul", [neg, slope], name=base + "_scaled")])


@imports("Clip")
def _clip(importer, node):
    x = importer.val(0)
    if importer.opset >= 11:
        lo = importer.const(1, "min")
        hi = importer.const(2, "max")
        lo = None if lo is None else nice_float(lo)
        hi = None if hi is None else nice_float(hi)
    else:
        lo, hi = importer.attr("min"), importer.attr("max")
    if lo is not None and math.isinf(lo) and lo < 0:
        lo = None
    if hi is not None and math.isinf(hi) and hi > 0:
        hi = None
    if lo is None and hi is None:
        return x
    return importer.emit("clamp", [x], {"min": lo, "max": hi})


def _comparison(predicate):
    def compare(importer, node):
        return importer.emit("compare", [importer.val(0), importer.val(1)], {"predicate": predicate})
    return compare


for _op_type, _predicate in COMPARISONS.items():
    IMPORTERS.register(_op_type)(_comparison(_predicate))


def _scalar_const(importer, name):
    x = importer.env.get(name)
    if isinstance(x, Const) and x.array.size == 1:
        return float(x.array.ravel()[0])
    return None


def _softplus_threshold(importer, node, greater):
    """PyTorch's softplus(x, beta, threshold): Where(beta*x > threshold, x, Softplus(beta*x) / beta), or None."""
    bx, thr = greater.input[0], _scalar_const(importer, greater.input[1])
    x_name, sp_name = node.input[1], node.input[2]
    beta = 1.0 if bx == x_name else None
    pb = importer.producer.get(bx)
    if beta is None and pb is not None and pb.op_type == "Mul" and x_name in pb.input:
        beta = _scalar_const(importer, pb.input[1 - list(pb.input).index(x_name)])
    sp = importer.producer.get(sp_name)
    if sp is not None and sp.op_type == "Div" and _scalar_const(importer, sp.input[1]) == beta:
        sp = importer.producer.get(sp.input[0])
    if thr is not None and beta is not None and sp is not None and sp.op_type == "Softplus" and sp.input[0] == bx:
        return importer.emit("softplus", [importer.val(1)], {"beta": nice_float(beta), "threshold": nice_float(thr)})
    return None


@imports("Where")
def _where(importer, node):
    cond = importer.inp(0)
    made_by = importer.producer.get(node.input[0])
    if made_by is not None and made_by.op_type == "Greater":
        y = _softplus_threshold(importer, node, made_by)
        if y is not None:
            return y
    if (made_by is None or made_by.op_type not in COMPARISONS) and _scalar_const(importer, node.input[2]) == -math.inf \
            and (cond.type.dtype if isinstance(cond, Value) else ir_dtype(cond.array)) == "i1":
        # an attention mask: where(m, s, -inf) == s + log(m) (log 1 = 0, log 0 = -inf)
        s = importer.val(1)
        m = importer.emit("cast", [importer.val(0)], {"dtype": s.type.dtype}, name=importer.base_name(node) + "_mask")
        return importer.emit("add", [s, importer.emit("log", [m], name=importer.base_name(node) + "_log")])
    return importer.emit("where", [importer.val(0), importer.val(1), importer.val(2)])
