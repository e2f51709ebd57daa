"""IR → CoreML: `emit_coreml(module, "m.mlpackage", weights="f32")` writes an ML program package with
coremltools' MIL builder.

Every mapped registry op is in `EMITTERS`, one file per op family (conv.py, norm.py, ... like irc/ir/ops);
`emitter.py` is the driver, `writer.py` converts and saves the package. NCHW is CoreML's own convolution
layout, so a channel-first IR maps op for op (an nhwc op runs between transposes). Compute is fp32 by default,
fp16 with `weights="f16"` (coremltools' fp16 cast pass: fp16 weights and activations, fp32 inputs and
outputs). Predictions need macOS; on Linux irc checks a package by reading it back (`irc.frontend.coreml`).
"""

from . import conv, core_ops, elementwise, linalg, norm, reduce, resize, shape  # noqa: F401  (they register)
from .emitter import EMITTERS, Emitter, emits, mil_name, unmapped_ops
from .writer import build_program, emit_coreml

__all__ = ["EMITTERS", "Emitter", "build_program", "emit_coreml", "emits", "mil_name", "unmapped_ops"]
