"""Dense: nn.linear on the last axis; the kernel [in, out] is stored as [out, in] under its own key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...ir import Value
from .elementwise import apply_activation
from .tables import imports

if TYPE_CHECKING:
    from .importer import KerasImporter


@imports("Dense")
def dense(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    weight = importer.weight(layer.kernel, lambda a: a.T, how="transposed")
    operands = [ins[0], weight]
    if importer.config("use_bias", True) and layer.bias is not None:
        operands.append(importer.weight(layer.bias))
    return apply_activation(importer, importer.emit("linear", operands), importer.config("activation"))
