"""Dense: nn.linear on the last axis; the kernel [in, out] is stored as [out, in] under its own key. On an
NHWC (rank-4) tensor Dense is a 1x1 nn.conv2d (kernel [1, 1, in, out], HWIO), which nhwc-to-nchw makes
channel-first like any other conv (a linear on the last axis would need a transpose on each side)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...ir import Value
from .elementwise import apply_activation
from .tables import imports

if TYPE_CHECKING:
    from .importer import KerasImporter


@imports("Dense")
def dense(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    x = ins[0]
    if x.type.rank == 4:
        operands = [x, importer.weight(layer.kernel, lambda a: a[None, None], how="hwio")]
        attrs = {"stride": [1, 1], "dilation": [1, 1], "groups": 1, "layout": "nhwc", "padding": [[0, 0], [0, 0]]}
        kind = "conv2d"
    else:
        operands, attrs, kind = [x, importer.weight(layer.kernel, lambda a: a.T, how="transposed")], None, "linear"
    if importer.config("use_bias", True) and layer.bias is not None:
        operands.append(importer.weight(layer.bias))
    return apply_activation(importer, importer.emit(kind, operands, attrs), importer.config("activation"))
