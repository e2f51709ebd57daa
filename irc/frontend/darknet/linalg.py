"""[connected]: a fully connected layer over the flattened input.

Its floats are, in Darknet's order: biases, weights [outputs, inputs], then with batch_normalize=1 the scales,
rolling means and rolling variances (OpenCV reads the normalisation before the weights; irc follows Darknet).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...ir import IrcError, Value
from .elementwise import apply_activation
from .importer import imports
from .norm import batch_norm, take_batch_norm

if TYPE_CHECKING:
    from .cfg import Section
    from .importer import DarknetImporter


@imports("connected")
def connected(importer: DarknetImporter, section: Section) -> Value:
    x = importer.previous()
    outputs = section.integer("output", 1)
    if outputs <= 0:
        raise IrcError(f"{section.where('output')}: output={outputs} must be positive")
    if x.type.rank != 2:
        x = importer.emit("flatten", [x], {"start_axis": 1}, suffix="flat")
    inputs = x.type.shape[1]
    biases = importer.take(outputs)
    weight = importer.param("weight", importer.take(outputs * inputs).reshape(outputs, inputs))
    if section.integer("batch_normalize", 0) != 1:
        y = importer.emit("linear", [x, weight, importer.param("bias", biases)],
                          opencv=importer.opencv_name("fullyConnected"))
        return apply_activation(importer, section, y)
    scales, mean, variance = take_batch_norm(importer, outputs)
    y = importer.emit("linear", [x, weight], opencv=importer.opencv_name("fullyConnected"))
    return apply_activation(importer, section, batch_norm(importer, y, scales, biases, mean, variance))
