"""ATen linear algebra → nn.linear, nn.matmul."""

from __future__ import annotations

import torch

from ..core import Unsupported
from .importer import imports

aten = torch.ops.aten


@imports(aten.linear.default)
def _linear(importer, node, x, w, b=None):
    return importer.result("linear", [importer.operand(x), importer.operand(w)] +
                           ([importer.operand(b)] if b is not None else []))


@imports(aten.matmul.default, aten.mm.default, aten.bmm.default)
def _matmul(importer, node, x, other):
    return importer.result("matmul", [importer.operand(x), importer.operand(other)])


@imports(aten.addmm.default)
def _addmm(importer, node, bias, mat1, mat2, beta=1, alpha=1):
    if beta != 1 or alpha != 1:
        raise Unsupported("addmm with alpha or beta is not supported")
    mm = importer.emit("matmul", [importer.operand(mat1), importer.operand(mat2)])
    return importer.result("add", [mm, importer.operand(bias)])
