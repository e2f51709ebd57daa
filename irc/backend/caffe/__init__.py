"""IR → Caffe: `emit_caffe(module, "out_dir")` writes `out_dir/deploy.prototxt` + `out_dir/model.caffemodel`.

The net is in the current `layer` form with an Input layer per argument; blob names are the IR value
names and each layer is named after its output, so OpenCV (`irc.runtimes.opencv.CaffeRuntime`) returns
every value by its IR name. Every op maps through `EMITTERS`, one file per op family (conv.py, norm.py, ...
like irc/ir/ops); `emitter.py` is the driver. What Caffe cannot say is listed at once: op kinds without a
mapping, asymmetric padding, channel-last ops (run nhwc-to-nchw), broadcasting arithmetic.
Choices: batch_norm becomes BatchNorm + Scale (fuse-bn first folds it into the convolution); a pool that
rounds down where Caffe rounds up gets OpenCV's `ceil_mode: false`; Permute is OpenCV's (SSD) layer.
"""

from . import conv, elementwise, linalg, norm, shape  # noqa: F401  (they register)
from .emitter import EMITTERS, CaffeEmitter, Refused, emit_caffe, emits, unmapped_ops

__all__ = ["EMITTERS", "CaffeEmitter", "Refused", "emit_caffe", "emits", "unmapped_ops"]
