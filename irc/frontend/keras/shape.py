"""Shape layers: Flatten, Reshape, Permute, Concatenate, Dropout (and the other inference no-ops),
UpSampling2D, Identity, Embedding (nn.gather of the embedding matrix's rows)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...ir import Value
from ..core import Unsupported
from .tables import imports

if TYPE_CHECKING:
    from .importer import KerasImporter


@imports("Flatten")
def flatten(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    """Of an NHWC tensor: H, W, C order, as Keras flattens (nhwc-to-nchw permutes a following Dense)."""
    x = ins[0]
    if x.type.rank <= 2:
        return x
    return importer.emit("flatten", [x], {"start_axis": 1, "end_axis": -1})


@imports("Reshape")
def reshape(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    target = [int(d) for d in importer.config("target_shape")]
    batch = ins[0].type.shape[0]
    if -1 in target:
        if batch is None:
            return importer.emit("reshape", [ins[0]], {"shape": [0] + target})
        return importer.emit("reshape", [ins[0]], {"shape": [batch] + target})
    return importer.emit("reshape", [ins[0]], {"shape": [-1] + target})


@imports("Permute")
def permute(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    dims = [int(d) for d in importer.config("dims")]
    return importer.emit("transpose", [ins[0]], {"perm": [0] + dims})


@imports("Concatenate")
def concatenate(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    return importer.emit("concat", ins, {"axis": int(importer.config("axis", -1))})


@imports("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
         "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Identity", "StochasticDepth")
def passthrough(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    """Layers that do nothing at inference."""
    return ins[0]


@imports("UpSampling2D")
def upsampling2d(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    if importer.config("data_format", "channels_last") != "channels_last":
        raise Unsupported("only data_format='channels_last' is supported")
    size = importer.config("size", (2, 2))
    size = [int(s) for s in size] if isinstance(size, (list, tuple)) else [int(size)] * 2
    mode = importer.config("interpolation", "nearest")
    if mode not in ("nearest", "bilinear"):
        raise Unsupported(f"interpolation '{mode}' is not supported (only nearest and bilinear)")
    x = ins[0]
    _, h, w, _ = x.type.shape
    attrs = {"mode": mode, "layout": "nhwc", "align_corners": False}
    if h is not None and w is not None:
        attrs["size"] = [h * size[0], w * size[1]]
    else:
        attrs["scales"] = [float(s) for s in size]
    return importer.emit("upsample", [x], attrs)


@imports("Embedding")
def embedding(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    """Rows of the embedding matrix [vocabulary, dim] at the integer input: nn.gather on axis 0."""
    if importer.config("mask_zero", False):
        raise Unsupported("Embedding with mask_zero=True (the mask changes what later layers compute)")
    if getattr(layer, "lora_enabled", False) or getattr(layer, "quantization_mode", None):
        raise Unsupported("Embedding with LoRA or quantization is not supported")
    return importer.emit("gather", [importer.weight(layer.embeddings), ins[0]], {"axis": 0})
