"""FULLY_CONNECTED as nn.linear (weights [out, in] as TFLite keeps them; an input of rank above 2 without
keep_num_dims is flattened to [-1, in] first, as TFLite does) and BATCH_MATMUL as nn.matmul."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...ir import Value
from ..core import Unsupported
from .importer import imports

if TYPE_CHECKING:
    from .importer import TfliteImporter


@imports("FULLY_CONNECTED")
def fully_connected(importer: TfliteImporter, operator: object) -> Value:
    o = importer.options
    if o is not None and o.weightsFormat:
        raise Unsupported("shuffled FULLY_CONNECTED weights are not supported")
    x, w = importer.input(0), importer.input(1)
    keep = o is not None and bool(o.keepNumDims)
    if x.type.rank > 2 and not keep:
        flat = importer.tensor_name(operator.outputs[0]) + "_flat"
        x = importer.emit_named("reshape", [x], {"shape": [-1, w.type.shape[1]]}, flat)[0]
    operands = [x, w] + ([importer.input(2)] if importer.has_input(2) else [])
    return importer.emit("linear", operands, act=o.fusedActivationFunction if o is not None else 0)


@imports("BATCH_MATMUL")
def batch_matmul(importer: TfliteImporter, operator: object) -> Value:
    o = importer.options
    x, y = importer.input(0), importer.input(1)
    name = importer.tensor_name(operator.outputs[0])
    for flag, which in ((o is not None and o.adjX, 0), (o is not None and o.adjY, 1)):
        if flag:
            v = (x, y)[which]
            perm = list(range(v.type.rank - 2)) + [v.type.rank - 1, v.type.rank - 2]
            v = importer.emit_named("transpose", [v], {"perm": perm}, f"{name}_adj{which}")[0]
            x, y = (v, y) if which == 0 else (x, v)
    return importer.emit("matmul", [x, y])
