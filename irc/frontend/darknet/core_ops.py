"""The [yolo] and [region] detection heads: the feature map entering a head becomes a model output.

OpenCV's Region layer decodes that map (sigmoid and grid offsets of x, y; exp and anchors of w, h; class
scores times objectness) and then zeroes scores under `thresh` and runs NMS, which no tensor program
reproduces; irc outputs the raw map and leaves the decoding to the caller, as Darknet's own converters do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...ir import IrcError, Value
from .importer import imports

if TYPE_CHECKING:
    from .cfg import Section
    from .importer import DarknetImporter


def _check_channels(section: Section, x: Value, anchors: int, per_anchor: int) -> None:
    if x.type.shape[1] != anchors * per_anchor:
        raise IrcError(f"{section.where()}: [{section.kind}] expects {anchors} anchors x {per_anchor} = "
                       f"{anchors * per_anchor} channels, its input has {x.type.shape[1]}")


@imports("yolo")
def yolo(importer: DarknetImporter, section: Section) -> Value:
    x = importer.previous()
    classes = section.integer("classes")
    mask = section.integers("mask", list(range(section.integer("num", 1))))
    _check_channels(section, x, len(mask), classes + 5)
    importer.add_head(x)
    return x


@imports("region")
def region(importer: DarknetImporter, section: Section) -> Value:
    x = importer.previous()
    per_anchor = section.integer("coords", 4) + 1 + section.integer("classes")
    _check_channels(section, x, section.integer("num", 1), per_anchor)
    importer.add_head(x)
    return x
