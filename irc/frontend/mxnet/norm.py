"""BatchNorm (over axis 1; `fix_gamma`, MXNet's default, means a gamma of ones), LayerNorm, GroupNorm (MXNet
1.x's gamma and beta are one per group: repeated per channel), softmax, log_softmax and SoftmaxActivation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...ir import Value
from ..core import Unsupported
from .importer import Node, imports

if TYPE_CHECKING:
    from .importer import MxnetImporter


@imports("BatchNorm", "BatchNorm_v1")
def batch_norm(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    x, gamma, beta, mean, var = ins[:5]
    if node.integer("axis", 1) % x.type.rank != 1:
        raise Unsupported(f"axis {node.integer('axis', 1)}: only the channels (axis 1)")
    if node.flag("fix_gamma", True):
        gamma = importer.new_param(np.ones(gamma.type.shape, np.float32), "gamma_fixed")
    return importer.emit("batch_norm", [x, gamma, beta, mean, var], {"epsilon": node.number("eps", 1e-3)})


@imports("LayerNorm")
def layer_norm(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    rank = ins[0].type.rank
    axis = node.integer("axis", -1) % rank
    if axis != rank - 1:
        raise Unsupported(f"axis {node.integer('axis', -1)}: only the last axis")
    return importer.emit("layer_norm", ins[:3], {"axes": [axis], "epsilon": node.number("eps", 1e-5)})


@imports("GroupNorm")
def group_norm(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    x, gamma, beta = ins[:3]
    groups, channels = node.integer("num_groups", 1), x.type.shape[1]
    if channels % groups:
        raise Unsupported(f"{channels} channels in {groups} groups")

    def per_channel(value: Value, what: str) -> Value:
        arr = importer.array(value).reshape(-1)
        if arr.size == channels:
            return value
        return importer.new_param(np.repeat(arr, channels // groups), what)

    attrs = {"num_groups": groups, "epsilon": node.number("eps", 1e-5)}
    return importer.emit("group_norm", [x, per_channel(gamma, "gamma"), per_channel(beta, "beta")], attrs)


@imports("softmax", "log_softmax")
def softmax(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    if node.text("temperature", "None") not in ("None", "1", "1.0"):
        raise Unsupported(f"temperature {node.text('temperature')}")
    return importer.emit(node.op, ins[:1], {"axis": node.integer("axis", -1)})


@imports("SoftmaxActivation")
def softmax_activation(importer: MxnetImporter, node: Node, ins: list[Value]) -> Value:
    x = ins[0]
    if node.text("mode", "instance") == "channel":
        return importer.emit("softmax", [x], {"axis": 1})
    if x.type.rank != 2:
        raise Unsupported(f"instance mode on {x.type}: only a 2-D input")
    return importer.emit("softmax", [x], {"axis": 1})
