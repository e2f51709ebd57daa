"""Caffe → IR: `import_caffe("deploy.prototxt", weights="net.caffemodel") -> Module`.

The prototxt (current `layer` or legacy `layers` form) is read with the schema of `irc.formats.caffe`,
and each layer imported by its handler in `IMPORTERS` (keyed by the Caffe layer type). The graph is NCHW
as Caffe computes it. Values are named after tops, params keyed `LAYER/INDEX` after the caffemodel's blobs
(see `importer.py`); `CaffeImporter.source_names` maps layer names to IR value names for bisection.

Layout: `importer.py` (the driver and the table), `source.py` (reading the files), and one file per op
family named like `irc/ir/ops/<family>.py` holding that family's handlers.
"""

from . import conv, elementwise, linalg, norm, shape  # noqa: F401  (they register)
from .importer import IMPORTERS, CaffeImporter, import_caffe
from .source import is_caffe_file, load_blobs, load_net

__all__ = ["IMPORTERS", "CaffeImporter", "import_caffe", "is_caffe_file", "load_blobs", "load_net"]
