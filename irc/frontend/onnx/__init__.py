"""ONNX → IR: `import_onnx(path_or_model, name=None) -> Module`.

Reads opsets 7 to 21: what CNTK 2.7 (opset 9) and PyTorch's older exporters wrote, with the attribute forms
older opsets use (BatchNormalization's `spatial`, Upsample, Resize of opset 10, attributes instead of inputs
for Split, Squeeze, Unsqueeze, Reduce*, Pad, Clip, Slice, Dropout; Softmax's flattening to 2-D before opset
13). An attribute that the op's schema at the model's opset does not declare, and its handler does not read,
makes the node unsupported. How ONNX semantics map:

- Values: every ONNX value becomes an IR value (named after its module path when the exporter
  recorded one — torch's name scopes or `/layer1/layer1.0/conv1/Conv` node names — else after the
  ONNX value name, sanitised), or a constant known at import time, or a *shape vector* (the output
  of Shape on a tensor with dynamic dims: entries are ints or symbolic dims). Shape arithmetic on
  constants and shape vectors is folded here (Shape/Gather/Slice/Concat/Unsqueeze/... and anything
  else whose inputs are all constant, with ONNX's reference evaluator), so a Reshape whose target
  came from `x.size(0)` becomes `nn.reshape` with 0 (copy) or -1 entries.
- Initializers become `nn.param` keyed by their sanitised names, made only when a computing op uses
  them; small computed constants (at most 32 elements) become `nn.constant`.
- After the walk, registered passes fuse what exporters split up (`fuse-silu`, `fuse-gelu`,
  `fuse-linear`), erase what that left unused (`dce`) and join stacked recurrent layers
  (`merge-recurrent-layers`).

Unsupported ops are collected and reported together in one IrcError naming each node and op type;
nothing is returned or written.

Layout: `importer.py` (the driver), `source.py` (reading the model file), `values.py` (what a value
is during import), `shape_values.py` (shape vectors and affine index tensors), `tables.py` (the op-keyed
tables), and one file per op family named like `irc/ir/ops/<family>.py` holding that family's handlers.
"""

from . import conv, core_ops, elementwise, linalg, norm, recurrent, reduce, resize, shape, shape_values  # noqa: F401
from .importer import OPSET_MAX, OPSET_MIN, OnnxImporter, import_onnx
from .source import is_onnx_file, load_onnx
from .tables import IMPORTERS
from .values import Const, nice_float, sanitize, value_name

__all__ = ["IMPORTERS", "OPSET_MAX", "OPSET_MIN", "Const", "OnnxImporter", "import_onnx", "is_onnx_file",
           "load_onnx", "nice_float", "sanitize", "value_name"]
