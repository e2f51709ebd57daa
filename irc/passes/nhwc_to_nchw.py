"""nhwc-to-nchw: make channel-last graphs (Keras, TFLite, TensorFlow through ONNX) channel-first.

The converter is shared with nchw-to-nhwc; see `irc.passes._layout` for how it works."""

from __future__ import annotations

from dataclasses import dataclass

from ._layout import LayoutPass


@dataclass
class NhwcToNchw(LayoutPass):
    name = "nhwc-to-nchw"
    summary = ("turn channel-last graphs (nhwc ops, or nchw ops wrapped in transposes) into NCHW; weights "
               "transposed at compile time, axes rewritten, transposes cancelled")
    source = "nhwc"
    target = "nchw"
