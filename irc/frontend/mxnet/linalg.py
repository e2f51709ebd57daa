"""FullyConnected (with `flatten`, its default, a rank > 2 input is flattened after the batch dim first), dot
(a rank 2 right-hand side: dot contracts the left's last axis with it) and batch_dot (rank 3), with their
transpose_a / transpose_b, as matmul."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...ir import Value
from ..core import Unsupported
from .importer import Node, imports

if TYPE_CHECKING:
    from .importer import MxnetImporter


@imports("FullyConnected")
def fully_connected(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    x = ins[0]
    if node.flag("flatten", True) and x.type.rank != 2:
        x = importer.emit("flatten", [x], {"start_axis": 1, "end_axis": -1})
    operands = [x, *ins[1:2]] if node.flag("no_bias") else [x, *ins[1:3]]
    return importer.emit("linear", operands)


def _transposed(importer: MxnetImporter, x: Value, flag: bool) -> Value:
    if not flag:
        return x
    perm = list(range(x.type.rank))
    perm[-2:] = perm[-1], perm[-2]
    return importer.emit("transpose", [x], {"perm": perm})


@imports("dot", "batch_dot")
def dot(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    left, right = ins[0].type.rank, ins[1].type.rank
    fits = left == right == 3 if node.op == "batch_dot" else right == 2 and (left == 2 or not node.flag("transpose_a"))
    if not fits:
        raise Unsupported(f"{node.op} of {ins[0].type} and {ins[1].type}: only rank 3 batch_dot, and dot of a "
                          "rank 2 right-hand side")
    a = _transposed(importer, ins[0], node.flag("transpose_a"))
    b = _transposed(importer, ins[1], node.flag("transpose_b"))
    return importer.emit("matmul", [a, b])
