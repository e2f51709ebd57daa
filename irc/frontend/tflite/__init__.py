"""TFLite → IR: `import_tflite(path, name=None) -> Module`, no TensorFlow.

The flatbuffer is read with ai_edge_litert's object API (`source.py`). The graph stays channel-last as
TFLite computes it: convolutions, pools and resizes get `layout = "nhwc"`, conv filters are stored in the
IR's HWIO order under their tensor's name (`irc-opt --pass nhwc-to-nchw,...` makes the graph channel-first).
Values are named after the TFLite tensors (`TfliteImporter.source_names` maps one to the other); f32 and
float16-weight models (DEQUANTIZE folded into f32 params) are read; quantised models are refused.

Layout: `importer.py` (the driver and its op-keyed table `IMPORTERS`, keyed by builtin operator name),
`source.py` (reading the file), and one file per op family named like `irc/ir/ops/<family>.py`.
"""

from . import conv, core_ops, elementwise, linalg, norm, recurrent, reduce, resize, shape  # noqa: F401
from .importer import IMPORTERS, TfliteImporter, import_tflite
from .source import is_tflite_file, load_tflite

__all__ = ["IMPORTERS", "TfliteImporter", "import_tflite", "is_tflite_file", "load_tflite"]
