"""Normalisation: BatchNormalization (channel-last nn.batch_norm), LayerNormalization, Normalization (a fixed
mean and variance), Softmax."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...ir import Value
from ..core import Unsupported
from .tables import imports

if TYPE_CHECKING:
    from .importer import KerasImporter


def _axes(value: object) -> list[int]:
    return [int(a) for a in value] if isinstance(value, (list, tuple)) else [int(value)]


def _or_constant(importer: KerasImporter, variable: object, fill: float, channels: int, what: str) -> Value:
    if variable is not None:
        return importer.weight(variable)
    return importer.constant(np.full((channels,), fill, np.float32), what=what)


@imports("BatchNormalization")
def batch_norm(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    """Inference batch norm over the last axis (of an NHWC tensor, or of a [N, C] one: nchw and nhwc agree);
    scale=False / center=False give ones / zeros."""
    x = ins[0]
    axes = _axes(importer.config("axis", -1))
    rank = x.type.rank
    if len(axes) != 1 or axes[0] % rank != rank - 1:
        raise Unsupported(f"BatchNormalization over axis {axes} (only the last axis is supported)")
    if rank not in (2, 4):
        raise Unsupported(f"BatchNormalization of a rank-{rank} tensor (only rank 4, NHWC, and rank 2)")
    channels = x.type.shape[-1]
    gamma = _or_constant(importer, layer.gamma if layer.scale else None, 1.0, channels, "gamma")
    beta = _or_constant(importer, layer.beta if layer.center else None, 0.0, channels, "beta")
    operands = [x, gamma, beta, importer.weight(layer.moving_mean), importer.weight(layer.moving_variance)]
    return importer.emit("batch_norm", operands, {"epsilon": float(importer.config("epsilon", 1e-3)),
                                                  "layout": "nhwc" if rank == 4 else "nchw"})


@imports("LayerNormalization")
def layer_norm(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    if importer.config("rms_scaling", False):
        raise Unsupported("LayerNormalization with rms_scaling has no irc mapping")
    x = ins[0]
    axes = sorted(a % x.type.rank for a in _axes(importer.config("axis", -1)))
    shape = [x.type.shape[a] for a in axes]
    operands = [x]
    if layer.scale or layer.center:
        gamma = importer.weight(layer.gamma) if layer.scale else importer.constant(np.ones(shape, np.float32),
                                                                                      what="gamma")
        operands.append(gamma)
        if layer.center:
            operands.append(importer.weight(layer.beta))
    return importer.emit("layer_norm", operands, {"axes": axes, "epsilon": float(importer.config("epsilon", 1e-3))})


@imports("Softmax")
def softmax(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    if len(ins) > 1:
        raise Unsupported("Softmax with a mask is not supported")
    axes = _axes(importer.config("axis", -1))
    if len(axes) != 1:
        raise Unsupported(f"Softmax over several axes {axes} is not supported")
    return importer.emit("softmax", [ins[0]], {"axis": axes[0]})


def _squeezed(arr: np.ndarray) -> np.ndarray:
    """`arr` without its leading size-1 axes (broadcasting gives the same result)."""
    while arr.ndim > 1 and arr.shape[0] == 1:
        arr = arr[0]
    return arr


@imports("Normalization")
def normalization(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    """(x - mean) / max(sqrt(variance), epsilon) as x * scale + shift (invert: mean + x * that divisor)."""
    keras = importer.keras
    mean = np.asarray(keras.ops.convert_to_numpy(layer.mean), np.float64)
    variance = np.asarray(keras.ops.convert_to_numpy(layer.variance), np.float64)
    divisor = np.maximum(np.sqrt(variance), keras.config.epsilon())
    if importer.config("invert", False):
        scale, shift = divisor, mean
    else:
        scale, shift = 1.0 / divisor, -mean / divisor
    scale, shift = np.broadcast_arrays(scale, shift)
    y = importer.emit("mul", [ins[0], importer.constant(_squeezed(scale).astype(np.float32), what="scale")])
    return importer.emit("add", [y, importer.constant(_squeezed(shift).astype(np.float32), what="shift")])
