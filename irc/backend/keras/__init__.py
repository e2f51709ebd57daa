"""IR → Keras 3: `emit_keras(module, out_dir)` writes `model.py`, `model.weights.h5` and `model.keras`.

model.py builds a functional, channels-last Keras model from `keras.layers` (Conv2D, DepthwiseConv2D, Dense,
BatchNormalization, pooling, ZeroPadding2D, Concatenate, Add, Reshape, UpSampling2D, LSTM, ...) and `keras.ops`
where no layer exists; every layer and variable is named after the IR (sanitised). A channel-first module is
made channels-last first (`nchw-to-nhwc`), so a torchvision CNN becomes a Keras CNN with no transpose inside.

Layout: `emitter.py` (the driver and the op-keyed `EMITTERS`), `source.py` (writes model.py), `writer.py`
(`emit_keras`: builds the model from model.py, sets weights, saves the three files), and one file per op family
named like `irc/ir/ops/<family>.py`. Every op without a Keras form is listed at once (`unmapped_ops()` lists
the registry ops with no mapping at all).
"""

from . import attention, conv, core_ops, elementwise, linalg, norm, recurrent, reduce, resize, shape  # noqa: F401
from .emitter import EMITTERS, KerasEmitter, emits, unmapped_ops
from .writer import emit_keras

__all__ = ["EMITTERS", "KerasEmitter", "emit_keras", "emits", "unmapped_ops"]
