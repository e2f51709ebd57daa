"""nchw-to-nhwc: make channel-first graphs (PyTorch, ONNX) channel-last for Keras, TFLite and other
channels-last runtimes.

The converter is shared with nhwc-to-nchw; see `irc.passes._layout` for how it works."""

from __future__ import annotations

from dataclasses import dataclass

from ._layout import LayoutPass


@dataclass
class NchwToNhwc(LayoutPass):
    name = "nchw-to-nhwc"
    summary = ("turn channel-first graphs into channel-last ones (nhwc ops, HWIO weights transposed at compile "
               "time, concat/softmax/reduce axes rewritten, flatten→linear weights permuted, transposes cancelled)")
    source = "nchw"
    target = "nhwc"
