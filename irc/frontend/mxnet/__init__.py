"""MXNet → IR: `import_mxnet("model-symbol.json", weights="model-0000.params") -> Module`, without MXNet.

The symbol is JSON (`source.py`); the params an NDArray list read by `irc.formats.mxnet`. Each node is
imported by its handler in `IMPORTERS` (keyed by the MXNet op name); the graph is NCHW as MXNet computes it.
Symbols written by `Module.save_checkpoint`, by Gluon's `HybridBlock.export` and by irc-emit --target mxnet
are read (attributes under `attrs`, or `attr` / `param` in older files). Input shapes come from the
variables' `__shape__` attribute or `shapes=`.

Layout: `importer.py` (the driver and the table), `source.py` (reading the symbol), and one file per op
family named like `irc/ir/ops/<family>.py` holding that family's handlers.
"""

from . import conv, core_ops, elementwise, linalg, norm, reduce, resize, shape  # noqa: F401  (they register)
from .importer import IMPORTERS, MxnetImporter, import_mxnet, open_importer
from .source import is_mxnet_symbol, load_symbol

__all__ = ["IMPORTERS", "MxnetImporter", "import_mxnet", "is_mxnet_symbol", "load_symbol", "open_importer"]
