"""Keras → IR: `import_keras(path_or_model, name=None) -> Module`.

Reads Keras 3 models (`.keras` archives, legacy `.h5` files, or a live `keras.Model`) on any backend
(torch by default; TensorFlow is not needed). The graph stays channel-last as Keras computes it:
convolutions, pools, batch norm and upsampling get `layout = "nhwc"`, and conv kernels keep Keras'
HWIO order. `irc-opt --pass nhwc-to-nchw,...` makes it channel-first for PyTorch.

Weights are `nn.param` keyed by the Keras variable path (`conv1/kernel`); where the IR wants another
order the array is reordered under the same key (a Dense kernel [in, out] is stored [out, in], a
depthwise kernel [KH, KW, C, M] as [KH, KW, 1, C*M]).

Layout: `importer.py` (the driver), `source.py` (reading the file), `tables.py` (the op-keyed table),
and one file per op family named like `irc/ir/ops/<family>.py` holding that family's handlers.
"""

from . import attention, conv, elementwise, linalg, norm, recurrent, shape  # noqa: F401
from .importer import KerasImporter, import_keras
from .source import is_keras_file, load_keras
from .tables import IMPORTERS

__all__ = ["IMPORTERS", "KerasImporter", "import_keras", "is_keras_file", "load_keras"]
