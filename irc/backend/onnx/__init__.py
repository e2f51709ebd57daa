"""IR → ONNX: `emit_onnx(module, path, opset=18)` writes one ModelProto.

Every registry op maps to standard ONNX ops (default domain) in `EMITTERS`, one file per op family
(conv.py, norm.py, ... like irc/ir/ops); the test suite lists registry ops without a mapping so that gaps
are visible. `emitter.py` is the driver, `writer.py` writes the file. Choices worth knowing:

- Names: every IR value keeps its name as the ONNX value name, and the node that computes it is
  named after it too. Helper values a mapping needs get `<result>__<what>` names. A param becomes an
  initializer named by its weight key (so an IR → ONNX → IR round trip keeps keys).
- A dynamic dimension becomes a symbolic one: `batch` for dimension 0, `<input>_d<i>` elsewhere.
- Layout: nhwc spatial ops are computed in NCHW between two Transposes (HWIO weights are transposed
  by a Transpose node too); ONNX has no channels-last convolution.
- The family files say how their ops map (pooling and padding, upsample's coordinate modes, gelu,
  layer_norm and group_norm by opset, recurrent gate orders).
- Tensors above 2 GB in total go to external data (`<file>.data` beside the model).
"""

from . import attention, conv, core_ops, custom, elementwise, linalg, norm, recurrent, reduce, resize, shape  # noqa: F401  (they register)
from .emitter import DEFAULT_OPSET, EMITTERS, OPSETS, Emitter, build_model, emits, tensor_proto, unmapped_ops
from .writer import emit_onnx

__all__ = ["DEFAULT_OPSET", "EMITTERS", "OPSETS", "Emitter", "build_model", "emit_onnx", "emits", "tensor_proto",
           "unmapped_ops"]
