"""Reductions: MEAN, SUM, REDUCE_MAX, REDUCE_MIN over constant axes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...ir import Value
from .importer import imports

if TYPE_CHECKING:
    from .importer import TfliteImporter

REDUCTIONS = {"MEAN": "mean", "SUM": "sum", "REDUCE_MAX": "reduce_max", "REDUCE_MIN": "reduce_min"}


def _reduce(kind: str):
    def handler(importer: TfliteImporter, operator: object) -> Value:
        keep = importer.options is not None and bool(importer.options.keepDims)
        return importer.emit(kind, [importer.input(0)], {"axes": importer.ints(1, "axes"), "keepdims": keep})

    return handler


for _name, _kind in REDUCTIONS.items():
    imports(_name)(_reduce(_kind))
