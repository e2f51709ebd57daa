"""TFLite for recurrent layers (irc/ir/ops/recurrent.py): an LSTM is one UNIDIRECTIONAL_SEQUENCE_LSTM per
layer and direction (not unrolled).

PyTorch's gate blocks (i, f, g, o) become TFLite's input/forget/cell/output weights, the two biases
summed. The reverse direction runs on the sequence reversed in time (REVERSE_V2) and its output is reversed
back; the directions are concatenated on the feature axis. The states are TFLite variable tensors that
start at zero on every run, so initial states (h0, c0) are not supported; h_n is each direction's output at
its last step (sliced out and stacked), c_n is not available (an op whose c_n is read is refused).
"""

from __future__ import annotations

import numpy as np

from ...ir import IrcError, Op
from .emitter import Emitter, emits

GATES = 4  # i, f, g, o: PyTorch's order, which is TFLite's input, forget, cell, output


@emits("lstm")
def _lstm(emitter: Emitter, op: Op) -> None:
    a = op.attrs
    dirs = 2 if a["bidirectional"] else 1
    per = 4 if a["bias"] else 2
    n = a["num_layers"] * dirs * per
    if len(op.operands) > 1 + n:
        raise IrcError("initial states (h0, c0) are not supported: TFLite's LSTM states start at zero")
    if emitter.users.get(id(op.results[2])) or id(op.results[2]) in emitter.outputs:
        raise IrcError("c_n is read, and TFLite's LSTM does not expose its cell state")
    x_shape = list(op.operands[0].type.shape)
    time_axis = 1 if a["batch_first"] else 0
    cur, finals = emitter.input(op, 0), []
    for layer in range(a["num_layers"]):
        outs = []
        for d in range(dirs):
            first = 1 + (layer * dirs + d) * per
            y, last = _direction(emitter, op, cur, x_shape, op.operands[first:first + per], f"l{layer}_d{d}", d == 1)
            outs.append(y)
            finals.append(last)
        x_shape = x_shape[:-1] + [a["hidden_size"] * dirs]
        final = layer == a["num_layers"] - 1
        cur = outs[0] if dirs == 1 and final else _concat(emitter, op, outs, x_shape, final, f"l{layer}")
        if dirs == 1 and final:
            _copy(emitter, op, cur)
    if emitter.users.get(id(op.results[1])) or id(op.results[1]) in emitter.outputs:
        _final_states(emitter, op, finals, time_axis)


def _concat(emitter: Emitter, op: Op, outs: list, shape: list, final: bool, what: str) -> int:
    target = emitter.output(op) if final else emitter.temp(op, what, shape)
    if len(outs) == 1:
        return outs[0]
    emitter.operator("CONCATENATION", outs, [target], "ConcatenationOptions", axis=len(shape) - 1)
    return target


def _copy(emitter: Emitter, op: Op, seq: int) -> None:
    """A single-direction last layer: its output tensor is the op's result."""
    emitter.bind(op.results[0], seq)


def _direction(emitter: Emitter, op: Op, x: int, x_shape: list, weights: list, what: str,
               reverse: bool) -> tuple[int, int]:
    """One UNIDIRECTIONAL_SEQUENCE_LSTM; returns (its output sequence in time order, its last step's output
    [batch, 1, hidden] or [1, batch, hidden])."""
    a = op.attrs
    hidden = a["hidden_size"]
    time_axis = 1 if a["batch_first"] else 0
    batch = x_shape[1 - time_axis]
    if batch is None:
        raise IrcError("an LSTM needs a static batch size in TFLite (its states are variable tensors)")
    out_shape = x_shape[:-1] + [hidden]
    axis = emitter.const(op, f"{what}_time", np.asarray([time_axis], np.int32))
    if reverse:
        flipped = emitter.temp(op, f"{what}_reversed_in", x_shape)
        emitter.operator("REVERSE_V2", [x, axis], [flipped])
        x = flipped
    ins = [x, *_gate_weights(emitter, op, weights, what)]
    run = emitter.temp(op, what, out_shape)
    emitter.operator("UNIDIRECTIONAL_SEQUENCE_LSTM", ins, [run], "UnidirectionalSequenceLSTMOptions",
                     fusedActivationFunction=emitter.schema.ActivationFunctionType.TANH, cellClip=0.0,
                     projClip=0.0, timeMajor=not a["batch_first"])
    last = _last_step(emitter, op, run, out_shape, time_axis, what)
    if not reverse:
        return run, last
    y = emitter.temp(op, f"{what}_reversed_out", out_shape)
    emitter.operator("REVERSE_V2", [run, axis], [y])
    return y, last


def _gate_weights(emitter: Emitter, op: Op, weights: list, what: str) -> list[int]:
    """The 23 inputs after the sequence: gate weights, biases, the two state variables, absent extras."""
    hidden = op.attrs["hidden_size"]
    w_ih, w_hh = emitter.array(weights[0]), emitter.array(weights[1])
    if w_ih is None or w_hh is None:
        raise IrcError("LSTM weights must be constants")
    if len(weights) == 4:
        bias = emitter.array(weights[2]) + emitter.array(weights[3])
    else:
        bias = np.zeros(GATES * hidden, np.float32)
    ih = [_gate_const(emitter, op, w_ih, g, f"{what}_w_ih{g}") for g in range(GATES)]
    hh = [_gate_const(emitter, op, w_hh, g, f"{what}_w_hh{g}") for g in range(GATES)]
    b = [emitter.const(op, f"{what}_bias{g}", bias[g * hidden:(g + 1) * hidden].astype(np.float32))
         for g in range(GATES)]
    batch = op.operands[0].type.shape[0 if op.attrs["batch_first"] else 1]
    states = [_state(emitter, op, [batch, hidden], f"{what}_{s}") for s in ("h", "c")]
    return [*ih, *hh, -1, -1, -1, *b, -1, -1, *states, -1, -1, -1, -1]


def _gate_const(emitter: Emitter, op: Op, arr: np.ndarray, gate: int, what: str) -> int:
    hidden = op.attrs["hidden_size"]
    block = np.ascontiguousarray(arr[gate * hidden:(gate + 1) * hidden], dtype=np.float32)
    if emitter.f16:
        half = emitter.const(op, what + "_f16", block.astype(np.float16))
        out = emitter.temp(op, what, block.shape)
        emitter.operator("DEQUANTIZE", [half], [out])
        return out
    return emitter.const(op, what, block)


def _state(emitter: Emitter, op: Op, shape: list, what: str) -> int:
    """A zero-initialised variable tensor with a buffer of its own, as TensorFlow's converter writes them."""
    idx = emitter.temp(op, what, shape, "f32")
    emitter.buffers.append(emitter.schema.BufferT())
    emitter.tensors[idx].buffer = len(emitter.buffers) - 1
    emitter.tensors[idx].isVariable = True
    return idx


def _last_step(emitter: Emitter, op: Op, seq: int, shape: list, time_axis: int, what: str) -> int:
    rank = len(shape)
    begin, end = [0] * rank, [0] * rank
    begin[time_axis] = -1
    mask = ((1 << rank) - 1) & ~(1 << time_axis)
    out_shape = list(shape)
    out_shape[time_axis] = 1
    out = emitter.temp(op, f"{what}_last", out_shape)
    ins = [seq, emitter.const(op, f"{what}_begin", begin), emitter.const(op, f"{what}_end", end),
           emitter.const(op, f"{what}_strides", [1] * rank)]
    emitter.operator("STRIDED_SLICE", ins, [out], "StridedSliceOptions", beginMask=mask,
                     endMask=mask | (1 << time_axis))
    return out


def _final_states(emitter: Emitter, op: Op, finals: list, time_axis: int) -> None:
    """h_n [layers * directions, batch, hidden]: the last steps, each reshaped to [1, batch, hidden]."""
    h_type = op.results[1].type
    parts = []
    for i, last in enumerate(finals):
        part = emitter.temp(op, f"h_n{i}", [1, *h_type.shape[1:]])
        shape = emitter.const(op, f"h_n{i}_shape", np.asarray([1, *h_type.shape[1:]], np.int32))
        emitter.operator("RESHAPE", [last, shape], [part], "ReshapeOptions", newShape=[1, *h_type.shape[1:]])
        parts.append(part)
    emitter.operator("CONCATENATION", parts, [emitter.output(op, 1)], "ConcatenationOptions", axis=0)
