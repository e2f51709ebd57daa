"""Input, Concat, Slice, Split, Flatten, Reshape and Permute.

Reshape's `0` copies the input's dim, `-1` is inferred, and `axis`/`num_axes` replace only part of the
shape; the IR gets the resulting static shape. Permute (an OpenCV/SSD layer) may list only the leading
axes; the rest follow in order.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ...ir import Value
from ..core import Unsupported
from .importer import imports

if TYPE_CHECKING:
    from .importer import CaffeImporter


@imports("Input")
def input_layer(importer: CaffeImporter, layer: object, ins: list[Value]) -> list[Value]:
    shapes = list(layer.proto.input_param.shape)
    if len(shapes) not in (1, len(layer.tops)):
        raise Unsupported(f"{len(shapes)} shapes for {len(layer.tops)} tops")
    return [importer.add_input(top, list(shapes[min(k, len(shapes) - 1)].dim)) for k, top in enumerate(layer.tops)]


def _axis(axis: int, rank: int) -> int:
    out = axis + rank if axis < 0 else axis
    if not 0 <= out < rank:
        raise Unsupported(f"axis {axis} is outside the input's {rank} dims")
    return out


@imports("Concat")
def concat(importer: CaffeImporter, layer: object, ins: list[Value]) -> Value:
    param = layer.proto.concat_param
    axis = param.axis if param.HasField("axis") or not param.HasField("concat_dim") else param.concat_dim
    if len(ins) == 1:
        return importer.emit("identity", ins)
    return importer.emit("concat", ins, {"axis": _axis(int(axis), ins[0].type.rank)})


@imports("Slice")
def slice_layer(importer: CaffeImporter, layer: object, ins: list[Value]) -> list[Value]:
    x = ins[0]
    param = layer.proto.slice_param
    axis = param.axis if param.HasField("axis") or not param.HasField("slice_dim") else param.slice_dim
    axis = _axis(int(axis), x.type.rank)
    size, parts = x.type.shape[axis], len(layer.tops)
    points = [int(p) for p in param.slice_point]
    if not points:
        if size % parts:
            raise Unsupported(f"{size} cannot be sliced into {parts} equal parts")
        points = [size // parts * k for k in range(1, parts)]
    if len(points) != parts - 1:
        raise Unsupported(f"{len(points)} slice points for {parts} tops")
    bounds = [0] + points + [size]
    sizes = [b - a for a, b in zip(bounds, bounds[1:], strict=False)]
    return importer.emit_results("split", [x], {"axis": axis, "sizes": sizes})


@imports("Split")
def split(importer: CaffeImporter, layer: object, ins: list[Value]) -> Value:
    return ins[0]  # every top is the bottom


@imports("Flatten")
def flatten(importer: CaffeImporter, layer: object, ins: list[Value]) -> Value:
    param = layer.proto.flatten_param
    return importer.emit("flatten", [ins[0]], {"start_axis": int(param.axis), "end_axis": int(param.end_axis)})


def caffe_reshape(shape: tuple, dims: list[int], axis: int, num_axes: int) -> list[int]:
    """The output shape of Caffe's Reshape: dims[axis : axis + num_axes] replaced by `dims` (0 copies, -1 infers)."""
    rank = len(shape)
    start = axis + rank + 1 if axis < 0 else axis
    end = rank if num_axes == -1 else start + num_axes
    if not 0 <= start <= end <= rank:
        raise Unsupported(f"axis {axis} and num_axes {num_axes} do not fit a {rank}-D input")
    new = [shape[start + i] if d == 0 else d for i, d in enumerate(dims)]
    out = list(shape[:start]) + new + list(shape[end:])
    if out.count(-1) > 1:
        raise Unsupported("more than one -1 in the shape")
    if -1 in out:
        known = math.prod(d for d in out if d != -1)
        out[out.index(-1)] = math.prod(shape) // known
    if math.prod(out) != math.prod(shape):
        raise Unsupported(f"shape {out} does not hold the input's {math.prod(shape)} elements")
    return out


@imports("Reshape")
def reshape(importer: CaffeImporter, layer: object, ins: list[Value]) -> Value:
    x = ins[0]
    param = layer.proto.reshape_param
    if None in x.type.shape:
        raise Unsupported(f"input {x.type} has a dynamic dim")
    shape = caffe_reshape(x.type.shape, [int(d) for d in param.shape.dim], int(param.axis), int(param.num_axes))
    return importer.emit("reshape", [x], {"shape": shape})


@imports("Permute")
def permute(importer: CaffeImporter, layer: object, ins: list[Value]) -> Value:
    x = ins[0]
    order = [int(o) for o in layer.proto.permute_param.order]
    order += [a for a in range(x.type.rank) if a not in order]
    if sorted(order) != list(range(x.type.rank)):
        raise Unsupported(f"order {list(layer.proto.permute_param.order)} is not a permutation of the input's dims")
    return importer.emit("transpose", [x], {"perm": order})
