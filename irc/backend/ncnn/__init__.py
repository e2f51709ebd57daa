"""IR → ncnn: `emit_ncnn(module, out_dir, weights="f32"|"f16")` writes `model.ncnn.param`, `model.ncnn.bin`
and a short `model_ncnn.py` that runs them with the `ncnn` package.

Every mapped registry op is in `EMITTERS`, one file per op family (conv.py, norm.py, ... like irc/ir/ops);
`unmapped_ops()` lists the rest, and emitting a module that uses any lists every one at once with its line.
`emitter.py` is the driver, `writer.py` writes the files. Choices worth knowing:

- Batch: ncnn blobs are batchless (w, h, d, c: at most four dims). irc emits for batch 1: an input of batch > 1
  is refused, each input's blob drops dimension 0, and every other value drops the size-1 dimension its batch
  became (dimension 0 unless a transpose moved it; a value whose batch was merged into another dimension, as
  attention's batch * heads, keeps all its dims). IR axes are re-numbered around it (axis a -> a - 1 when the
  batch is dimension 0); an op over the batch axis (softmax, reduction, concat along it, padding it) and a
  value of more than four dims besides the batch are refused, every such op listed at once.
- Names: every blob is named after its IR value (inputs and outputs too), so `irc.runtimes.ncnn` can extract
  any IR value by name; helper blobs are `<value>__<what>`, Split tops `<blob>_splitncnn_<i>`.
- A blob read by several layers gets an explicit Split layer, as ncnn expects.
- Activations alone after a Convolution/Deconvolution/InnerProduct ride along as its activation_type; a
  linear over rows is one Gemm, attention is MatMul/Softmax/MatMul.
- Layout: channel-first only; run nhwc-to-nchw before emitting a channel-last module.
- Weights: `--weights f16` stores convolution/InnerProduct/Gemm/recurrent weights as fp16 (ncnn's tag
  0x01306B47), biases and the rest as float32, as pnnx does.
- Output: `model_ncnn.py` names the input and output blobs (INPUTS, OUTPUTS, SHAPES); `irc.runtimes.ncnn`
  reads them from there.
"""

from . import attention, conv, core_ops, elementwise, linalg, norm, recurrent, reduce, resize, shape  # noqa: F401
from .emitter import ACTIVATIONS, EMITTERS, Emitter, emits, unmapped_ops
from .writer import emit_ncnn

__all__ = ["ACTIVATIONS", "EMITTERS", "Emitter", "emit_ncnn", "emits", "unmapped_ops"]
