"""DEQUANTIZE of a float16 constant (TensorFlow's float16 weights) folded into an f32 constant, and CAST."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...ir import Value
from ..core import Unsupported
from .importer import imports

if TYPE_CHECKING:
    from .importer import TfliteImporter


@imports("DEQUANTIZE")
def dequantize(importer: TfliteImporter, operator: object) -> Value | None:
    arr = importer.array(0)
    if arr is None or arr.dtype != np.float16:
        raise Unsupported("only DEQUANTIZE of a float16 constant is supported")
    importer.folded[operator.outputs[0]] = arr.astype(np.float32)
    return None


@imports("CAST")
def cast(importer: TfliteImporter, operator: object) -> Value:
    return importer.emit("cast", [importer.input(0)], {"dtype": importer.output_type().dtype})
