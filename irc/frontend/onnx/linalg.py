"""Gemm and MatMul → nn.linear, nn.matmul.

Gemm with transB=1, alpha=beta=1 and a 1-D C is `nn.linear`; otherwise transposes, scales and an add
are written out, so any transA/transB/alpha/beta is exact.
"""

from __future__ import annotations

import numpy as np

from .tables import EXTRA_ATTRIBUTES, imports
from .values import Const, scalar_array

# opsets 1-6: broadcast=1 lets C broadcast, as it always does from opset 7; broadcast=0 needs a full C, which
# computes the same
EXTRA_ATTRIBUTES["Gemm"] = {"broadcast"}


def _gemm_weight(importer, node, b):
    """B as nn.linear's [out, in] weight: B itself when transB=1, else B^T (transposed here when an initializer)."""
    if importer.attr("transB", 0):
        return importer.as_value(b, node.input[1])
    if isinstance(b, Const) and b.init is not None:
        return importer.as_value(Const(np.ascontiguousarray(b.array.T)), node.input[1] + ".T")
    return importer.emit("transpose", [importer.as_value(b, node.input[1])], {"perm": [1, 0]},
                         name=importer.base_name(node) + "_b_t")


@imports("Gemm")
def _gemm(importer, node):
    a, b = importer.val(0), importer.inp(1)
    alpha, beta = importer.attr("alpha", 1.0), importer.attr("beta", 1.0)
    base = importer.base_name(node)
    if importer.attr("transA", 0):
        a = importer.emit("transpose", [a], {"perm": [1, 0]}, name=base + "_a_t")
    w = _gemm_weight(importer, node, b)
    c = importer.inp(2)
    bias = None
    if c is not None and beta == 1.0 and alpha == 1.0:
        shape = c.array.shape if isinstance(c, Const) else importer.as_value(c).type.shape
        if tuple(shape) == (w.type.shape[0],):
            bias = importer.val(2)
    last = c is None or bias is not None
    y = importer.emit("linear", [a, w] + ([bias] if bias is not None else []),
                      name=base if last and alpha == 1.0 else base + "_mm")
    if alpha != 1.0:
        s = importer.as_value(Const(scalar_array(alpha, a.type.dtype)), "alpha")
        y = importer.emit("mul", [y, s], name=base if last else base + "_scaled")
    if c is not None and bias is None:
        cv = importer.val(2)
        if beta != 1.0:
            s = importer.as_value(Const(scalar_array(beta, a.type.dtype)), "beta")
            cv = importer.emit("mul", [cv, s], name=base + "_c")
        y = importer.emit("add", [y, cv])
    return y


@imports("MatMul")
def _matmul(importer, node):
    return importer.emit("matmul", [importer.val(0), importer.val(1)])
