"""The code writer: the text of `model.py` from a finished `KerasEmitter`.

model.py defines `build_model()` (the functional graph, channels-last) and `load(folder)` (the graph with
`model.weights.h5` loaded). It imports only keras and numpy, so it runs on any Keras 3 backend. A param
larger than `INLINE_MAX` elements read as a tensor (not kept by a layer) is the output of `IrcWeight`, a small
layer model.py defines and registers (`irc>IrcWeight`); such a model's `.keras` loads once model.py is imported
or with `custom_objects=CUSTOM_OBJECTS`. Without it the `.keras` holds only built-in Keras classes.
"""

from __future__ import annotations

import ast
import re

import numpy as np

from ...ir import IrcError, Value
from ...ir.dtypes import IR_TO_NP
from .emitter import WEIGHT_LAYER, KerasEmitter, Line, ident, lit

HEADER = '''"""{title} as a Keras 3 functional model (channels-last), written by irc.

    model = load()                                    # build_model() with model.weights.h5 loaded
    model = keras.saving.load_model("model.keras"{custom})
"""

import os

import keras
import numpy as np
'''

WEIGHT_LAYER_SOURCE = f'''

@keras.saving.register_keras_serializable(package="irc")
class {WEIGHT_LAYER}(keras.layers.Layer):
    """A weight of the model read as a tensor; the input only anchors it in the graph."""

    def __init__(self, shape, value_dtype="float32", **kwargs):
        super().__init__(**kwargs)
        self.value_shape = tuple(shape)
        self.value_dtype = value_dtype
        self.value = self.add_weight(shape=self.value_shape, dtype=value_dtype, initializer="zeros",
                                     trainable=False, name="value")

    def call(self, anchor):
        return keras.ops.convert_to_tensor(self.value)

    def compute_output_shape(self, input_shape):
        return self.value_shape

    def get_config(self):
        return {{**super().get_config(), "shape": list(self.value_shape), "value_dtype": self.value_dtype}}


CUSTOM_OBJECTS = {{"irc>{WEIGHT_LAYER}": {WEIGHT_LAYER}}}
'''

LOAD_SOURCE = '''

def load(folder=None):
    """build_model() with the weights of model.weights.h5 (in `folder`, default: beside this file)."""
    model = build_model()
    model.load_weights(os.path.join(folder or os.path.dirname(os.path.abspath(__file__)), "model.weights.h5"))
    return model
'''


def settle_names(emitter: KerasEmitter) -> None:
    """Rename a layer whose name Keras could also give a `keras.ops` node (`add_1`): Keras refuses a model
    with a name used twice, and numbers those nodes itself."""
    auto = re.compile(r"(?:%s)(?:_\d+)?\Z" % "|".join(re.escape(n) for n in sorted(emitter.op_names))) \
        if emitter.op_names else None
    taken = {line.name for line in emitter.lines if line.name}
    for line in emitter.lines:
        if line.name and auto is not None and auto.match(line.name):
            base, i = line.name + "_layer", 0
            new = base
            while new in taken:
                i += 1
                new = f"{base}{i}"
            taken.add(new)
            line.name = new


def render_line(line: Line) -> str:
    targets = ", ".join(line.targets)
    if line.name is None:
        return f"    {targets} = {line.rhs}"
    prefix = "" if line.callee == WEIGHT_LAYER else "keras.layers."
    args = ", ".join(line.args + [f"name={lit(line.name)}"])
    return f"    {targets} = {prefix}{line.callee}({args})({line.inputs})"


def _input_line(var: str, value: Value) -> str:
    shape = value.type.shape
    dtype = np.dtype(IR_TO_NP[value.type.dtype]).name
    return (f"    {var} = keras.Input(shape={lit(list(shape[1:]))}, batch_size={lit(shape[0])}, dtype={dtype!r}, "
            f"name={lit(var)})")


def _structure(names: list[str]) -> str:
    """One tensor as itself, several as a list (a model called on one tensor returns one)."""
    return names[0] if len(names) == 1 else "[" + ", ".join(names) + "]"


def model_source(emitter: KerasEmitter, title: str) -> str:
    """The whole model.py."""
    settle_names(emitter)
    outputs = emitter.outputs()
    custom = ", custom_objects=CUSTOM_OBJECTS" if emitter.uses_weight_layer else ""
    parts = [HEADER.format(title=ident(title), custom=custom)]
    if emitter.uses_weight_layer:
        parts.append(WEIGHT_LAYER_SOURCE)
    body = [_input_line(var, value) for var, value in emitter.inputs]
    body += [render_line(line) for line in emitter.lines]
    inputs = _structure([var for var, _ in emitter.inputs])
    body.append(f"    return keras.Model(inputs={inputs}, outputs={_structure(outputs)}, name={lit(ident(title))})")
    parts.append("\n\ndef build_model():\n    \"\"\"The graph (weights not loaded).\"\"\"\n" + "\n".join(body) + "\n")
    parts.append(LOAD_SOURCE)
    source = "".join(parts)
    try:
        ast.parse(source)
    except SyntaxError as e:  # a bug in a mapping, not a user error; say where
        raise IrcError(f"the model.py irc built does not parse (line {e.lineno}): {e.msg}") from None
    return source


__all__ = ["model_source", "render_line", "settle_names"]
