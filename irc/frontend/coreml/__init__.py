"""CoreML → IR: `import_coreml(path, name=None) -> Module` reads the MIL program of an ML program
(.mlpackage) back into IR: values keep their MIL names, weights become `nn.param` keyed by their const's
name, the graph stays NCHW as MIL computes it. It reads the ops irc's CoreML emitter writes and the ones
coremltools' own PyTorch converter writes for the same layers.

Layout: `importer.py` (the driver and its op-keyed table `IMPORTERS`, keyed by MIL op type), `source.py`
(recognising and reading the package), and one file per op family named like `irc/ir/ops/<family>.py`.
"""

from . import conv, core_ops, elementwise, linalg, norm, reduce, resize, shape  # noqa: F401  (they register)
from .importer import IMPORTERS, CoremlImporter, import_coreml
from .source import is_coreml_package, load_program

__all__ = ["IMPORTERS", "CoremlImporter", "import_coreml", "is_coreml_package", "load_program"]
