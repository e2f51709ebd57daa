"""Shape and movement TFLite operators: RESHAPE, SQUEEZE, EXPAND_DIMS, TRANSPOSE, CONCATENATION, PAD, PADV2,
MIRROR_PAD, STRIDED_SLICE (begin/end masks; shrink_axis_mask as a squeeze), SPLIT, SPLIT_V, GATHER,
BROADCAST_TO. Shapes, axes and amounts must be constant tensors."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...ir import Value
from ..core import Unsupported
from .importer import imports

if TYPE_CHECKING:
    from .importer import TfliteImporter

TO_END = 2**63 - 1


@imports("RESHAPE")
def reshape(importer: TfliteImporter, operator: object) -> Value:
    """The target shape from the shape tensor, else the options' new_shape, else the output's type."""
    if importer.has_input(1) and importer.array(1) is not None:
        shape = importer.ints(1, "shape")
    elif importer.options is not None and importer.options.newShape is not None:
        shape = [int(d) for d in importer.options.newShape]
    else:
        shape = [-1 if d is None else d for d in importer.output_type().shape]
    return importer.emit("reshape", [importer.input(0)], {"shape": shape})


@imports("SQUEEZE")
def squeeze(importer: TfliteImporter, operator: object) -> Value:
    x = importer.input(0)
    dims = importer.options.squeezeDims if importer.options is not None else None
    axes = [int(d) for d in dims] if dims is not None and len(dims) else [
        i for i, d in enumerate(x.type.shape) if d == 1]
    return importer.emit("squeeze", [x], {"axes": axes})


@imports("EXPAND_DIMS")
def expand_dims(importer: TfliteImporter, operator: object) -> Value:
    return importer.emit("unsqueeze", [importer.input(0)], {"axes": importer.ints(1, "axis")})


@imports("TRANSPOSE")
def transpose(importer: TfliteImporter, operator: object) -> Value:
    return importer.emit("transpose", [importer.input(0)], {"perm": importer.ints(1, "permutation")})


@imports("CONCATENATION")
def concatenation(importer: TfliteImporter, operator: object) -> Value:
    ins = [importer.input(i) for i in range(len(operator.inputs))]
    o = importer.options
    return importer.emit("concat", ins, {"axis": o.axis}, act=o.fusedActivationFunction)


def _pads(importer: TfliteImporter) -> list[list[int]]:
    flat = importer.ints(1, "paddings")
    return [flat[i:i + 2] for i in range(0, len(flat), 2)]


@imports("PAD")
def pad(importer: TfliteImporter, operator: object) -> Value:
    return importer.emit("pad", [importer.input(0)], {"pads": _pads(importer)})


@imports("PADV2")
def padv2(importer: TfliteImporter, operator: object) -> Value:
    value = importer.array(2)
    if value is None:
        raise Unsupported("the padding value must be a constant")
    return importer.emit("pad", [importer.input(0)], {"pads": _pads(importer), "value": float(np.ravel(value)[0])})


@imports("MIRROR_PAD")
def mirror_pad(importer: TfliteImporter, operator: object) -> Value:
    """REFLECT is reflect; SYMMETRIC (the edge repeated) is replicate where no side pads more than 1."""
    pads = _pads(importer)
    if importer.options.mode == importer.schema.MirrorPadMode.REFLECT:
        mode = "reflect"
    elif all(p <= 1 for pair in pads for p in pair):
        mode = "replicate"
    else:
        raise Unsupported("MIRROR_PAD SYMMETRIC of more than one element per side")
    return importer.emit("pad", [importer.input(0)], {"pads": pads, "mode": mode})


@imports("STRIDED_SLICE")
def strided_slice(importer: TfliteImporter, operator: object) -> Value:
    o = importer.options
    if o.ellipsisMask or o.newAxisMask or getattr(o, "offset", False):
        raise Unsupported("ellipsis_mask, new_axis_mask and offset are not supported")
    begin, end = importer.ints(1, "begin"), importer.ints(2, "end")
    strides = importer.ints(3, "strides") if importer.has_input(3) else [1] * len(begin)
    if any(s <= 0 for s in strides):
        raise Unsupported("negative strides are not supported")
    axes, starts, ends, steps = [], [], [], []
    for axis, (b, e, s) in enumerate(zip(begin, end, strides, strict=True)):
        b = 0 if o.beginMask >> axis & 1 else b
        e = TO_END if o.endMask >> axis & 1 else e
        if o.shrinkAxisMask >> axis & 1:
            e = b + 1 if b != -1 else TO_END
        if (b, e, s) != (0, TO_END, 1):
            axes.append(axis), starts.append(b), ends.append(e), steps.append(s)
    x = importer.input(0)
    shrink = [a for a in range(len(begin)) if o.shrinkAxisMask >> a & 1]
    attrs = {"axes": axes, "starts": starts, "ends": ends, "steps": steps if any(s != 1 for s in steps) else None}
    if not shrink:
        return importer.emit("slice", [x], attrs) if axes else importer.emit("identity", [x])
    sliced = importer.emit_named("slice", [x], attrs, importer.tensor_name(operator.outputs[0]) + "_slice")[0]
    return importer.emit("squeeze", [sliced], {"axes": shrink})


def _split(importer: TfliteImporter, x: Value, axis: int, sizes: list[int]) -> list[Value]:
    axis %= x.type.rank
    return importer.emit_results("split", [x], {"axis": axis, "sizes": sizes})


@imports("SPLIT")
def split(importer: TfliteImporter, operator: object) -> list[Value]:
    """Inputs: axis, data; equal parts."""
    x = importer.input(1)
    axis = importer.ints(0, "axis")[0] % x.type.rank
    n, size = importer.options.numSplits, x.type.shape[axis]
    if size is None or size % n:
        raise Unsupported(f"cannot split {size} into {n} equal parts")
    return _split(importer, x, axis, [size // n] * n)


@imports("SPLIT_V")
def split_v(importer: TfliteImporter, operator: object) -> list[Value]:
    x = importer.input(0)
    axis = importer.ints(2, "axis")[0] % x.type.rank
    sizes = importer.ints(1, "sizes")
    if -1 in sizes:
        sizes[sizes.index(-1)] = x.type.shape[axis] - (sum(sizes) + 1)
    return _split(importer, x, axis, sizes)


@imports("GATHER")
def gather(importer: TfliteImporter, operator: object) -> Value:
    if importer.options.batchDims:
        raise Unsupported("GATHER with batch_dims is not supported")
    return importer.emit("gather", [importer.input(0), importer.input(1)], {"axis": importer.options.axis})


@imports("BROADCAST_TO")
def broadcast_to(importer: TfliteImporter, operator: object) -> Value:
    return importer.emit("expand", [importer.input(0)], {"shape": importer.ints(1, "shape")})
