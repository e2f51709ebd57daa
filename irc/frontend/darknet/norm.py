"""Batch normalisation (of [convolutional] and [connected]) and [softmax].

Darknet normalises with epsilon 1e-6, as OpenCV's import of it does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...ir import Value
from ...ir.ops import OPS
from ..core import Unsupported
from .importer import imports

if TYPE_CHECKING:
    from .cfg import Section
    from .importer import DarknetImporter

EPSILON = 1e-6


def batch_norm(importer: DarknetImporter, x: Value, scales: np.ndarray, biases: np.ndarray, mean: np.ndarray,
               variance: np.ndarray) -> Value:
    """nn.batch_norm of `x`, its params keyed `PREFIX.bn.weight`, `.bn.bias`, `.bn.running_mean`, ..."""
    names = OPS["nn.batch_norm"].params
    params = [importer.param(f"bn.{name}", arr) for name, arr in zip(names, (scales, biases, mean, variance),
                                                                     strict=True)]
    return importer.emit("batch_norm", [x, *params], {"epsilon": EPSILON}, suffix="bn",
                         opencv=importer.opencv_name("bn"))


def take_batch_norm(importer: DarknetImporter, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The scales, rolling means and rolling variances of `count` channels, in Darknet's order."""
    return importer.take(count), importer.take(count), importer.take(count)


@imports("softmax")
def softmax(importer: DarknetImporter, section: Section) -> Value:
    """Over the channels of a 1x1 map (or a vector): where Darknet's softmax (over C*H*W) and OpenCV's (over
    C) agree."""
    x = importer.previous()
    if section.integer("groups", 1) != 1:
        raise Unsupported(f"groups={section.text('groups')} is not supported")
    if section.number("temperature", 1.0) != 1.0:
        raise Unsupported(f"temperature={section.text('temperature')} is not supported")
    if any(d != 1 for d in x.type.shape[2:]):
        raise Unsupported(f"a softmax over a {x.type} map (not 1x1) is not supported")
    return importer.emit("softmax", [x], {"axis": 1}, opencv=importer.opencv_name("softmax"))
