"""BatchNorm, Scale, Bias and Softmax.

Caffe's BatchNorm has no affine part: its blobs are the running mean, the running variance and a scale
factor (both statistics are stored multiplied by it; 0 means the statistics are zero). It becomes
`nn.batch_norm` with the statistics divided by the factor (under their keys `BN/0`, `BN/1`) and a weight of
ones and a bias of zeros (`BN/weight`, `BN/bias`); the Scale layer that usually follows is a multiply and an
add, which `fuse-bn` and the backends see as such.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...ir import Value
from ..core import Unsupported
from .importer import imports

if TYPE_CHECKING:
    from .importer import CaffeImporter


@imports("BatchNorm")
def batch_norm(importer: CaffeImporter, layer: object, ins: list[Value]) -> Value:
    x = ins[0]
    if x.type.rank < 2:
        raise Unsupported(f"input {x.type} has no channel axis")
    channels = x.type.shape[1]
    factor = importer.blob_array(2).reshape(-1)[0] if importer.has_blob(2) else 1.0
    scale = 0.0 if factor == 0 else 1.0 / factor
    mean = importer.blob(0, lambda a: a.reshape(-1) * scale)
    var = importer.blob(1, lambda a: a.reshape(-1) * scale)
    weight = importer.new_param(np.ones(channels, np.float32), "weight")
    bias = importer.new_param(np.zeros(channels, np.float32), "bias")
    eps = float(layer.proto.batch_norm_param.eps)
    return importer.emit("batch_norm", [x, weight, bias, mean, var], {"epsilon": eps, "layout": "nchw"})


def _span(x: Value, axis: int, num_axes: int, rank_of_other: int | None = None) -> tuple[int, int]:
    """(first axis, number of axes) of x a Scale/Bias operand covers."""
    rank = x.type.rank
    axis = axis + rank if axis < 0 else axis
    count = (rank - axis if num_axes < 0 else num_axes) if rank_of_other is None else rank_of_other
    if not (0 <= axis and axis + count <= rank):
        raise Unsupported(f"axis {axis} with {count} axes does not fit the input {x.type}")
    return axis, count


def _broadcast_shape(x: Value, axis: int, count: int) -> tuple[int, ...]:
    """The shape a per-(axis..axis+count) operand takes to broadcast against x: trailing ones added."""
    return tuple(x.type.shape[axis: axis + count]) + (1,) * (x.type.rank - axis - count)


def _operand(importer: CaffeImporter, x: Value, ins: list[Value], param: object, blob: int) -> Value:
    """The second operand of Scale/Bias: the second bottom reshaped to broadcast, or blob `blob`."""
    if len(ins) > 1:
        other = ins[1]
        axis, count = _span(x, param.axis, param.num_axes, other.type.rank)
        shape = _broadcast_shape(x, axis, count)
        return importer.emit("reshape", [other], {"shape": list(shape)}) if shape != other.type.shape else other
    axis, count = _span(x, param.axis, param.num_axes)
    shape = _broadcast_shape(x, axis, count)
    return importer.blob(blob, lambda a: a.reshape(shape))


@imports("Scale")
def scale(importer: CaffeImporter, layer: object, ins: list[Value]) -> Value:
    """x * gamma (+ beta), gamma from the second bottom or blob 0, beta the next blob."""
    param = layer.proto.scale_param
    x = ins[0]
    y = importer.emit("mul", [x, _operand(importer, x, ins, param, 0)])
    if param.bias_term:
        axis, count = _span(x, param.axis, param.num_axes, ins[1].type.rank if len(ins) > 1 else None)
        shape = _broadcast_shape(x, axis, count)
        y = importer.emit("add", [y, importer.blob(1 if len(ins) == 1 else 0, lambda a: a.reshape(shape))])
    return y


@imports("Bias")
def bias(importer: CaffeImporter, layer: object, ins: list[Value]) -> Value:
    x = ins[0]
    return importer.emit("add", [x, _operand(importer, x, ins, layer.proto.bias_param, 0)])


@imports("Softmax")
def softmax(importer: CaffeImporter, layer: object, ins: list[Value]) -> Value:
    return importer.emit("softmax", [ins[0]], {"axis": int(layer.proto.softmax_param.axis)})
