"""MIL linear algebra → IR (irc/ir/ops/linalg.py): `linear` (weight [out, in]) is nn.linear; `matmul` is
nn.matmul, its transpose_x / transpose_y flags as transposes of the last two axes."""

from __future__ import annotations

from .importer import CoremlImporter, imports


@imports("linear")
def _linear(importer: CoremlImporter, op: object) -> object:
    operands = [importer.value(op.inputs["x"]), importer.param(op.inputs["weight"])]
    if op.inputs.get("bias") is not None:
        operands.append(importer.param(op.inputs["bias"]))
    return importer.emit("linear", operands)


@imports("matmul")
def _matmul(importer: CoremlImporter, op: object) -> object:
    operands = []
    for side in ("x", "y"):
        v = importer.value(op.inputs[side])
        if importer.attr(op, f"transpose_{side}", False):
            perm = list(range(v.type.rank))
            perm[-2:] = perm[-1], perm[-2]
            v = importer.helper("transpose", [v], {"perm": perm}, what=f"{side}_t")
        operands.append(v)
    return importer.emit("matmul", operands)
