"""[upsample]: nearest-neighbour, by an integer `stride` (default 2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...ir import Value
from ..core import Unsupported
from .importer import imports

if TYPE_CHECKING:
    from .cfg import Section
    from .importer import DarknetImporter


@imports("upsample")
def upsample(importer: DarknetImporter, section: Section) -> Value:
    x = importer.previous()
    stride = section.integer("stride", 2)
    if stride <= 0:
        raise Unsupported(f"stride={stride} (a downsampling [upsample]) is not supported")
    if section.number("scale", 1.0) != 1.0:
        raise Unsupported(f"scale={section.text('scale')} is not supported")
    _, _, height, width = x.type.shape
    return importer.emit("upsample", [x], {"mode": "nearest", "size": [height * stride, width * stride]},
                         opencv=importer.opencv_name("upsample"))
