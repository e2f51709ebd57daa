"""batch_norm as Caffe's BatchNorm (the statistics, scale factor 1) + Scale (weight and bias); softmax."""

from __future__ import annotations

import numpy as np

from ...ir import Op
from .emitter import CaffeEmitter, emits


@emits("batch_norm")
def batch_norm(emitter: CaffeEmitter, op: Op, ins: list, outs: list) -> None:
    weight, bias, mean, var = (emitter.array(v) for v in op.operands[1:])
    normalized = emitter.tmp(outs[0], "bn")
    emitter.layer("BatchNorm", normalized, ins[:1], [normalized], [mean, var, np.ones(1, np.float32)],
                  batch_norm_param={"use_global_stats": True, "eps": op.attrs["epsilon"]})
    emitter.layer("Scale", outs[0], [normalized], outs, [weight, bias], scale_param={"bias_term": True})


@emits("softmax")
def softmax(emitter: CaffeEmitter, op: Op, ins: list, outs: list) -> None:
    rank = op.operands[0].type.rank
    axis = op.attrs["axis"] % rank
    emitter.layer("Softmax", outs[0], ins, outs, softmax_param={"axis": axis})
