"""SOFTMAX (beta other than 1 scales the input first) and LOG_SOFTMAX, over the last axis."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...ir import Value
from ...ir.dtypes import IR_TO_NP
from .importer import imports

if TYPE_CHECKING:
    from .importer import TfliteImporter


@imports("SOFTMAX")
def softmax(importer: TfliteImporter, operator: object) -> Value:
    x = importer.input(0)
    beta = float(importer.options.beta) if importer.options is not None else 1.0
    if beta != 1.0:
        scale = importer.new_constant(np.asarray(beta, IR_TO_NP[x.type.dtype]), "beta")
        x = importer.emit_named("mul", [x, scale], None, importer.tensor_name(operator.outputs[0]) + "_scaled")[0]
    return importer.emit("softmax", [x], {"axis": -1})


@imports("LOG_SOFTMAX")
def log_softmax(importer: TfliteImporter, operator: object) -> Value:
    return importer.emit("log_softmax", [importer.input(0)], {"axis": -1})
