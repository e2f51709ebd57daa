"""BatchNormalization, InstanceNormalization, GroupNormalization, LayerNormalization, Softmax, LogSoftmax."""

from __future__ import annotations

import numpy as np

from ...ir import Value
from ..core import Unsupported
from .tables import IMPORTERS, imports
from .values import Const


@imports("BatchNormalization")
def _batch_norm(importer, node):
    if importer.attr("training_mode", 0):
        raise Unsupported("training_mode=1")
    ops = [importer.val(i) for i in range(5)]
    y = importer.emit("batch_norm", ops, {"epsilon": importer.attr("epsilon", 1e-5)})
    return [y] + [None] * (len(node.output) - 1)


@imports("InstanceNormalization")
def _instance_norm(importer, node):
    x, scale, bias = importer.val(0), importer.val(1), importer.val(2)
    c = x.type.shape[1]
    if c is None:
        raise Unsupported("InstanceNormalization needs a static channel count")
    return importer.emit("group_norm", [x, scale, bias], {"num_groups": c, "epsilon": importer.attr("epsilon", 1e-5)})


@imports("GroupNormalization")
def _group_norm(importer, node):
    """Opset 21: scale and bias per channel (PyTorch's). Opset 18: per group; irc repeats constant ones per
    channel (the same numbers)."""
    x = importer.val(0)
    g = importer.attr("num_groups")
    c = x.type.shape[1]
    if c is None:
        raise Unsupported("GroupNormalization needs a static channel count")
    if importer.attr("stash_type", 1) != 1:
        raise Unsupported("stash_type other than float32")
    ops = [x]
    for name, t in ((node.input[1], importer.inp(1)), (node.input[2], importer.inp(2))):
        if isinstance(t, Const) and t.array.shape == (g,) and g != c:
            ops.append(importer.as_value(Const(np.repeat(t.array, c // g), init=name + "_per_channel")))
        elif isinstance(t, (Const, Value)):
            ops.append(importer.as_value(t, name))
            if ops[-1].type.shape not in ((c,),):
                raise Unsupported(f"GroupNormalization {name} of shape {list(ops[-1].type.shape)}")
        else:
            raise Unsupported("GroupNormalization scale/bias computed from shapes")
    return importer.emit("group_norm", ops, {"num_groups": g, "epsilon": importer.attr("epsilon", 1e-5)})


@imports("LayerNormalization")
def _layer_norm(importer, node):
    x = importer.val(0)
    ops = [x] + [v for v in (importer.opt_val(1), importer.opt_val(2)) if v is not None]
    if importer.inp(1) is None and importer.inp(2) is not None:
        raise Unsupported("a bias without a scale")
    axis = importer.attr("axis", -1) % x.type.rank
    y = importer.emit("layer_norm", ops, {"axes": list(range(axis, x.type.rank)),
                                          "epsilon": importer.attr("epsilon", 1e-5)})
    return [y, None, None]


def _softmax_like(kind):
    def softmax(importer, node):
        """Opset 13 normalises over one axis; older opsets over every dim from `axis` on (flattened)."""
        x = importer.val(0)
        rank = x.type.rank
        if importer.opset >= 13:
            return importer.emit(kind, [x], {"axis": importer.attr("axis", -1)})
        axis = importer.attr("axis", 1) % rank
        if axis == rank - 1:
            return importer.emit(kind, [x], {"axis": -1})
        flat = importer.emit("flatten", [x], {"start_axis": axis, "end_axis": -1})
        y = importer.emit(kind, [flat], {"axis": -1})
        shape = [0] * axis + list(x.type.shape[axis:])
        if None in shape:
            raise Unsupported(f"opset-{importer.opset} {node.op_type} over dynamic dims")
        return importer.emit("reshape", [y], {"shape": shape})
    return softmax


IMPORTERS.register("Softmax")(_softmax_like("softmax"))
IMPORTERS.register("LogSoftmax")(_softmax_like("log_softmax"))
