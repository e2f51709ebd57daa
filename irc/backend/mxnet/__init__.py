"""IR → MXNet: `emit_mxnet(module, "out_dir")` writes `out_dir/model-symbol.json` + `out_dir/model-0000.params`,
without MXNet (the symbol is JSON, the weights an NDArray list written by `irc.formats.mxnet`).

Node names are the IR value names (helper nodes `<result>__<what>`), weights are variables named
`<result>_weight`, `_bias`, `_gamma`, `_beta` (arg:) and `_moving_mean`, `_moving_var` (aux:), inputs carry
their shape as `__shape__`. Every op maps through `EMITTERS`, one file per op family (conv.py, norm.py, ...
like irc/ir/ops); `emitter.py` is the driver. What MXNet cannot say is listed at once, each op with its IR
line: op kinds without a mapping, a transposed convolution's asymmetric padding, channel-last ops (run
nhwc-to-nchw), pooled sizes neither convention gives. The files load with `mx.sym.load` / `mx.nd.load`
(`irc.runtimes.mxnet` runs them in MXNet 1.9 in an environment of its own).
"""

from . import conv, core_ops, elementwise, linalg, norm, reduce, resize, shape  # noqa: F401  (they register)
from .emitter import EMITTERS, MxnetEmitter, Refused, emit_mxnet, emits, unmapped_ops

__all__ = ["EMITTERS", "MxnetEmitter", "Refused", "emit_mxnet", "emits", "unmapped_ops"]
