"""IR → TFLite: `emit_tflite(module, path, weights="f32"|"f16")` writes one .tflite flatbuffer, no TensorFlow.

The model is built with ai_edge_litert's flatbuffer object API (ModelT, SubGraphT, OperatorT, TensorT,
BufferT) and packed with the "TFL3" file identifier. Every IR op maps to TFLite builtin operators in
`EMITTERS`, one file per op family (conv.py, elementwise.py, ... like irc/ir/ops); `unmapped_ops()` lists
the registry ops without a mapping, and a module holding any is refused with every one listed at once.
`emitter.py` is the driver, `writer.py` writes the file. Choices worth knowing:

- Layout: TFLite is channel-last. A module with channel-first spatial ops is converted on a copy with
  `nchw-to-nhwc{change-signature=true}` first, so the file's inputs and outputs are channel-last.
- Names: tensors are named after the IR values they hold (so LiteRT's intermediate tensors are IR
  values); the SignatureDef "serving_default" names the inputs and outputs after the IR's.
- Fused activations: RELU, RELU6, RELU_N1_TO_1 and TANH that are the only user of a CONV_2D,
  DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD/SUB/MUL/DIV, pool or CONCATENATION are fused into it.
- Dynamic dimensions are 1 in `shape` and -1 in `shape_signature` (resize the input in LiteRT).
- `weights="f16"`: float16 constant buffers, each followed by a DEQUANTIZE to f32.
- LSTM: UNIDIRECTIONAL_SEQUENCE_LSTM per layer and direction (recurrent.py).
"""

from . import conv, core_ops, elementwise, linalg, norm, recurrent, reduce, resize, shape  # noqa: F401  (they register)
from .emitter import EMITTERS, Emitter, emits, unmapped_ops
from .writer import build, emit_tflite

__all__ = ["EMITTERS", "Emitter", "build", "emit_tflite", "emits", "unmapped_ops"]
