"""[route]: the outputs of earlier layers (`layers=-1,8`: negative counts back from this layer, others are
absolute), concatenated along the channels; with `groups`/`group_id` each contributes its group_id-th channel
group. A single layer with no groups is its output itself (OpenCV's `identity_i`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...ir import IrcError, Value
from .importer import imports

if TYPE_CHECKING:
    from .cfg import Section
    from .importer import DarknetImporter


def _group(importer: DarknetImporter, section: Section, x: Value, groups: int, group_id: int) -> Value:
    channels = x.type.shape[1]
    if channels % groups:
        raise IrcError(f"{section.where('groups')}: groups={groups} does not divide the {channels} channels of "
                       f"a routed layer")
    size = channels // groups
    return importer.emit("slice", [x], {"axes": [1], "starts": [group_id * size], "ends": [(group_id + 1) * size]})


@imports("route")
def route(importer: DarknetImporter, section: Section) -> Value:
    values = [importer.layer(i) for i in section.integers("layers")]
    if not values:
        raise IrcError(f"{section.where('layers')}: [route] names no layer")
    groups, group_id = section.integer("groups", 1), section.integer("group_id", 0)
    if groups <= 0 or not 0 <= group_id < groups:
        raise IrcError(f"{section.where()}: [route] groups={groups} group_id={group_id} is not a valid group")
    if groups > 1:
        values = [_group(importer, section, v, groups, group_id) for v in values]
    if len(values) > 1:
        return importer.emit("concat", values, {"axis": 1}, opencv=importer.opencv_name("concat"))
    if groups > 1:
        importer.record(importer.opencv_name("slice"), values[0])
    else:
        importer.record(importer.opencv_name("identity"), values[0])
    return values[0]
