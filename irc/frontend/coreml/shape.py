"""MIL data movement → IR (irc/ir/ops/shape.py): concat, split, reshape, transpose, squeeze, expand_dims,
slice_by_index, slice_by_size, pad, gather, tile.

reshape takes the result's static shape; slice_by_index's masks become full ranges and its squeeze_mask an
nn.squeeze (negative strides are refused: irc slices step forward); pad pads the trailing axes MIL names;
tile is nn.tile.
"""

from __future__ import annotations

from ...ir.core import INT64_MAX
from ..core import Unsupported
from .importer import CoremlImporter, imports

PAD_MODES = ("constant", "reflect", "replicate")


@imports("concat")
def _concat(importer: CoremlImporter, op: object) -> object:
    if importer.attr(op, "interleave", False):
        raise Unsupported("interleaved concat")
    values = [importer.value(v) for v in op.inputs["values"]]
    return importer.emit("concat", values, {"axis": importer.attr(op, "axis")})


@imports("split")
def _split(importer: CoremlImporter, op: object) -> list:
    x = importer.value(op.inputs["x"])
    axis = importer.attr(op, "axis") % x.type.rank
    sizes = [int(var.shape[axis]) for var in op.outputs]
    return importer.emit_results("split", [x], {"axis": axis, "sizes": sizes})


@imports("reshape")
def _reshape(importer: CoremlImporter, op: object) -> object:
    shape = op.outputs[0].shape
    if any(not isinstance(d, int) for d in shape):
        raise Unsupported(f"a reshape to a shape known only at run time ({shape})")
    return importer.emit("reshape", [importer.value(op.inputs["x"])], {"shape": list(shape)})


@imports("transpose")
def _transpose(importer: CoremlImporter, op: object) -> object:
    return importer.emit("transpose", [importer.value(op.inputs["x"])], {"perm": importer.attr(op, "perm")})


@imports("squeeze")
def _squeeze(importer: CoremlImporter, op: object) -> object:
    shape = op.inputs["x"].shape
    axes = importer.attr(op, "axes") or [i for i, d in enumerate(shape) if d == 1]
    return importer.emit("squeeze", [importer.value(op.inputs["x"])], {"axes": [a % len(shape) for a in axes]})


@imports("expand_dims")
def _expand_dims(importer: CoremlImporter, op: object) -> object:
    return importer.emit("unsqueeze", [importer.value(op.inputs["x"])], {"axes": importer.attr(op, "axes")})


def _sliced(importer: CoremlImporter, op: object, bounds: list) -> object:
    """nn.slice over the axes `bounds` [(axis, start, end, step)] cuts, then the squeeze_mask's axes squeezed."""
    x = importer.value(op.inputs["x"])
    cut = [(a, s, e, st) for a, s, e, st in bounds if (s, st) != (0, 1) or e < x.type.shape[a]]
    squeeze = [i for i, m in enumerate(importer.attr(op, "squeeze_mask", None) or []) if m]
    if not cut and not squeeze:
        return importer.emit("identity", [x])
    if cut:
        attrs = {"axes": [c[0] for c in cut], "starts": [c[1] for c in cut], "ends": [c[2] for c in cut]}
        if any(c[3] != 1 for c in cut):
            attrs["steps"] = [c[3] for c in cut]
        x = importer.emit("slice", [x], attrs) if not squeeze else importer.helper("slice", [x], attrs)
    return importer.emit("squeeze", [x], {"axes": squeeze}) if squeeze else x


@imports("slice_by_index")
def _slice_by_index(importer: CoremlImporter, op: object) -> object:
    shape = op.inputs["x"].shape
    rank = len(shape)
    begin, end = importer.attr(op, "begin"), importer.attr(op, "end")
    stride = importer.attr(op, "stride") or [1] * rank
    begin_mask = importer.attr(op, "begin_mask") or [False] * rank
    end_mask = importer.attr(op, "end_mask") or [False] * rank
    if any(s <= 0 for s in stride):
        raise Unsupported(f"slice strides {stride} (irc slices step forward)")
    bounds = [(i, 0 if begin_mask[i] else begin[i], INT64_MAX if end_mask[i] else end[i], stride[i])
              for i in range(rank)]
    bounds = [(i, s % shape[i] if s < 0 else s, e % shape[i] if e < 0 else min(e, shape[i]), st)
              for i, s, e, st in bounds]
    return _sliced(importer, op, bounds)


@imports("slice_by_size")
def _slice_by_size(importer: CoremlImporter, op: object) -> object:
    shape = op.inputs["x"].shape
    begin, size = importer.attr(op, "begin"), importer.attr(op, "size")
    bounds = [(i, b, shape[i] if n == -1 else b + n, 1) for i, (b, n) in enumerate(zip(begin, size, strict=True))]
    return _sliced(importer, op, bounds)


@imports("pad")
def _pad(importer: CoremlImporter, op: object) -> object:
    x = importer.value(op.inputs["x"])
    mode = importer.attr(op, "mode", "constant")
    if mode not in PAD_MODES:
        raise Unsupported(f"{mode} padding")
    flat = importer.attr(op, "pad")
    pairs = [[0, 0]] * (x.type.rank - len(flat) // 2) + [flat[i:i + 2] for i in range(0, len(flat), 2)]
    return importer.emit("pad", [x], {"pads": pairs, "mode": mode,
                                      "value": float(importer.attr(op, "constant_val", 0.0) or 0.0)})


@imports("gather")
def _gather(importer: CoremlImporter, op: object) -> object:
    return importer.emit("gather", [importer.value(op.inputs["x"]), importer.value(op.inputs["indices"])],
                         {"axis": importer.attr(op, "axis", 0)})


@imports("tile")
def _tile(importer: CoremlImporter, op: object) -> object:
    return importer.emit("tile", [importer.value(op.inputs["x"])], {"repeats": importer.attr(op, "reps")})
