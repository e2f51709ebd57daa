"""[convolutional], [maxpool] and [avgpool].

A convolution's floats are, in order: biases, then with batch_normalize=1 the scales, rolling means and
rolling variances, then the weights [filters, channels / groups, size, size] (already OIHW). `pad=1` means
a padding of size // 2. A max pool's `padding` (default size - 1) is a total: floor(padding / 2) before and
the rest after, so Tiny-YOLO's size=2 stride=1 pool keeps the size of its input (Darknet's and OpenCV's
convention). An [avgpool] is global.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...ir import IrcError, Value
from ..core import Unsupported
from .elementwise import apply_activation
from .importer import imports
from .norm import batch_norm, take_batch_norm

if TYPE_CHECKING:
    from .cfg import Section
    from .importer import DarknetImporter

# options irc does not implement, with the value that means "off"
CONV_REFUSED = {"flipped": 0, "dilation": 1, "binary": 0, "xnor": 0, "antialiasing": 0, "deform": 0,
                "share_index": -1000000}
POOL_REFUSED = {"maxpool_depth": 0, "antialiasing": 0, "out_channels": 1}


def refuse(section: Section, options: dict[str, int]) -> None:
    """Unsupported when any of `options` is set to something other than its "off" value."""
    for key, off in options.items():
        if section.has(key) and section.integer(key) != off:
            raise Unsupported(f"{key}={section.text(key)} is not supported")


def square_stride(section: Section, default: int) -> int:
    """`stride`, refusing a `stride_x`/`stride_y` that differs from it."""
    stride = section.integer("stride", default)
    for key in ("stride_x", "stride_y"):
        if section.has(key) and section.integer(key) != stride:
            raise Unsupported(f"{key}={section.text(key)} unlike stride={stride} is not supported")
    if stride <= 0:
        raise IrcError(f"{section.where('stride')}: stride={stride} must be positive")
    return stride


def _conv_shape(section: Section, channels: int) -> tuple[int, int, int]:
    filters, size, groups = section.integer("filters"), section.integer("size"), section.integer("groups", 1)
    if filters <= 0 or size <= 0 or groups <= 0 or channels % groups:
        raise IrcError(f"{section.where()}: [convolutional] filters={filters} size={size} groups={groups} do not "
                       f"fit its {channels} input channels")
    return filters, size, groups


@imports("convolutional")
def convolutional(importer: DarknetImporter, section: Section) -> Value:
    x = importer.previous()
    refuse(section, CONV_REFUSED)
    filters, size, groups = _conv_shape(section, x.type.shape[1])
    stride = square_stride(section, 1)
    pad = size // 2 if section.integer("pad", 0) else section.integer("padding", 0)
    normalize = section.integer("batch_normalize", 0) == 1
    biases = importer.take(filters)
    norm = take_batch_norm(importer, filters) if normalize else None
    per_group = x.type.shape[1] // groups
    weight = importer.take(filters * per_group * size * size).reshape(filters, per_group, size, size)
    operands = [x, importer.param("weight", weight)]
    if not normalize:
        operands.append(importer.param("bias", biases))
    attrs = {"stride": [stride, stride], "padding": [[pad, pad], [pad, pad]], "dilation": [1, 1], "groups": groups}
    y = importer.emit("conv2d", operands, attrs, opencv=importer.opencv_name("conv"))
    if norm is not None:
        scales, mean, variance = norm
        y = batch_norm(importer, y, scales, biases, mean, variance)
    return apply_activation(importer, section, y)


@imports("maxpool")
def maxpool(importer: DarknetImporter, section: Section) -> Value:
    x = importer.previous()
    refuse(section, POOL_REFUSED)
    stride = square_stride(section, 1)
    size = section.integer("size", stride)
    padding = section.integer("padding", size - 1)
    if size <= 0 or padding < 0:
        raise IrcError(f"{section.where()}: [maxpool] size={size} padding={padding} is not a valid pool")
    pads = [_pool_padding(length, size, stride, padding) for length in x.type.shape[2:]]
    attrs = {"kernel_size": [size, size], "stride": [stride, stride], "padding": pads}
    return importer.emit("max_pool2d", [x], attrs, opencv=importer.opencv_name("pool"))


def _pool_padding(length: int, size: int, stride: int, padding: int) -> list[int]:
    """[before, after] of one dim: floor(padding / 2) before, the rest after, less what no window reads (a
    2x2/2 pool of an even size reads none of it)."""
    before, after = padding // 2, padding - padding // 2
    count = (length + padding - size) // stride + 1
    reach = (count - 1) * stride - before + size - length  # padding the last window reads after the end
    return [before, min(after, max(reach, 0))]


@imports("avgpool")
def avgpool(importer: DarknetImporter, section: Section) -> Value:
    """The mean of each channel, kept 1x1 (OpenCV's global pooling)."""
    x = importer.previous()
    return importer.emit("mean", [x], {"axes": [2, 3], "keepdims": True}, opencv=importer.opencv_name("avgpool"))
