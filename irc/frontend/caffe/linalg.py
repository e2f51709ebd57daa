"""InnerProduct: a linear layer over the dimensions from `axis` on (flattened first when there are several)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...ir import Value
from ..core import Unsupported
from .importer import imports

if TYPE_CHECKING:
    from .importer import CaffeImporter


@imports("InnerProduct")
def inner_product(importer: CaffeImporter, layer: object, ins: list[Value]) -> Value:
    x = ins[0]
    param = layer.proto.inner_product_param
    rank = x.type.rank
    axis = param.axis + rank if param.axis < 0 else param.axis
    if not 0 <= axis < rank:
        raise Unsupported(f"axis {param.axis} is outside the input's {rank} dims")
    if axis < rank - 1:
        x = importer.emit("flatten", [x], {"start_axis": axis, "end_axis": -1})
    n_out, k = int(param.num_output), x.type.shape[-1]
    weight = importer.blob(0, (lambda a: a.reshape(k, n_out).T) if param.transpose else (lambda a: a.reshape(n_out, k)))
    operands = [x, weight]
    if param.bias_term:
        operands.append(importer.blob(1, lambda a: a.reshape(-1)))
    return importer.emit("linear", operands)
