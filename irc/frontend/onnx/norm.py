"""BatchNormalization, InstanceNormalization, GroupNormalization, LayerNormalization, LRN, Softmax, LogSoftmax.

Opsets 7 and 8 give BatchNormalization a `spatial` attribute: 0 normalises per activation, with scale, bias,
mean and variance of the input's shape without the batch dim; irc folds those constants into one multiply and
one add. LRN is PyTorch's LocalResponseNorm written out: the squares averaged over a channel window by an
average pool (counting the zero padding), then x / (bias + alpha * mean) ** beta.
"""

from __future__ import annotations

import numpy as np

from ...ir import Value
from ..core import Unsupported
from .tables import EXTRA_ATTRIBUTES, IMPORTERS, imports
from .values import Const, scalar_array

# opsets 7-8 `spatial`; opsets 1-6 `is_test` and `consumed_inputs` (an in-place hint), which some exporters kept
EXTRA_ATTRIBUTES["BatchNormalization"] = {"spatial", "is_test", "consumed_inputs"}


@imports("BatchNormalization")
def _batch_norm(importer, node):
    if importer.attr("training_mode", 0):
        raise Unsupported("training_mode=1")
    if importer.attr("is_test", 1) == 0:
        raise Unsupported("is_test=0 (batch statistics: training mode)")
    x = importer.val(0)
    if importer.attr("spatial", 1) == 0 and x.type.rank > 2:
        return [_per_activation_norm(importer, node, x)] + [None] * (len(node.output) - 1)
    ops = [x] + [importer.val(i) for i in range(1, 5)]
    y = importer.emit("batch_norm", ops, {"epsilon": importer.attr("epsilon", 1e-5)})
    return [y] + [None] * (len(node.output) - 1)


def _per_activation_norm(importer, node, x):
    """BatchNormalization with spatial=0: (x - mean) / sqrt(var + eps) * scale + B, each of the input's shape
    without the batch dim (or 1 where it broadcasts), folded here into x * a + b."""
    stats = [importer.const(i, name) for i, name in enumerate(("scale", "B", "mean", "var"), 1)]
    want = x.type.shape[1:]
    for s in stats:
        if s is None or s.ndim != len(want) or any(d != 1 and d != w for d, w in zip(s.shape, want, strict=True)):
            shape = "missing" if s is None else f"of shape {list(s.shape)}"
            raise Unsupported(f"BatchNormalization spatial=0 with statistics {shape} for an input of {x.type} "
                              "(per activation: the input's shape without the batch dim)")
    scale, bias, mean, var = (s.astype(np.float64) for s in stats)
    a = scale / np.sqrt(var + float(importer.attr("epsilon", 1e-5)))
    b = bias - mean * a
    base, to_np = importer.base_name(node), scalar_array(0, x.type.dtype).dtype
    a_val = importer.new_param(base + ".scale", a.astype(to_np))
    b_val = importer.new_param(base + ".shift", b.astype(to_np))
    return importer.emit("add", [importer.emit("mul", [x, a_val], name=base + "_scaled"), b_val])


def _constant(importer, value, dtype, name):
    return importer.as_value(Const(scalar_array(value, dtype)), name)


@imports("LRN")
def _lrn(importer, node):
    """square_sum over channels [c - (size-1)//2, c + size//2]; y = x / (bias + alpha / size * square_sum)^beta."""
    x = importer.val(0)
    size = int(importer.attr("size"))
    shape = list(x.type.shape)
    if x.type.rank < 3 or shape[1] is None or shape[2:].count(None) > 1:
        raise Unsupported(f"LRN on {x.type} (irc needs the channel count and all but one spatial dim static)")
    base, dtype = importer.base_name(node), x.type.dtype
    squares = importer.emit("mul", [x, x], name=base + "_sq")
    rows = importer.emit("reshape", [squares], {"shape": [0, 1, shape[1], -1]}, name=base + "_rows")
    window = importer.emit("avg_pool2d", [rows], {"kernel_size": [size, 1], "stride": [1, 1],
                                                  "padding": [[(size - 1) // 2, size // 2], [0, 0]],
                                                  "ceil_mode": False, "count_include_pad": True},
                           name=base + "_mean")
    scaled = importer.emit("mul", [window, _constant(importer, importer.attr("alpha", 1e-4), dtype, "alpha")],
                           name=base + "_scaled")
    shifted = importer.emit("add", [scaled, _constant(importer, importer.attr("bias", 1.0), dtype, "bias")],
                            name=base + "_shifted")
    den = importer.emit("pow", [shifted, _constant(importer, importer.attr("beta", 0.75), dtype, "beta")],
                        name=base + "_den")
    back = importer.emit("reshape", [den], {"shape": [0] + [-1 if d is None else d for d in shape[1:]]},
                         name=base + "_den_nchw")
    return importer.emit("div", [x, back])


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
        shape = [0] * axis + [-1 if d is None else d for d in x.type.shape[axis:]]
        if shape.count(-1) > 1:
            raise Unsupported(f"opset-{importer.opset} {node.op_type} over several dynamic dims")
        return importer.emit("reshape", [y], {"shape": shape})
    return softmax


IMPORTERS.register("Softmax")(_softmax_like("softmax"))
IMPORTERS.register("LogSoftmax")(_softmax_like("log_softmax"))
