"""irc: a compiler-style converter for neural networks.

Every command is also a function here: `irc.parse`, `irc.print`, `irc.verify`, `irc.load`,
`irc.save`, `irc.run_passes`, ...
"""

from .ir import IrcError, Module, load, parse, save, verify
from .ir.printer import print_module as print  # noqa: A001  (irc.print mirrors irc.parse)
from .passes import run_passes

__version__ = "0.1.0"
__all__ = ["IrcError", "Module", "load", "parse", "print", "save", "verify", "run_passes", "emit_pytorch", "check",
           "import_model", "load_source", "emit_onnx", "import_onnx", "import_keras"]

# functions whose modules need torch: imported on first use, so `import irc` stays torch-free
_LAZY = {
    "emit_pytorch": ("irc.backend.pytorch", "emit_pytorch"),
    "check": ("irc.check", "check"),
    "import_model": ("irc.frontend.torch", "import_model"),
    "load_source": ("irc.frontend.torch.load", "load_source"),
    "emit_onnx": ("irc.backend.onnx", "emit_onnx"),
    "import_onnx": ("irc.frontend.onnx", "import_onnx"),
    "import_keras": ("irc.frontend.keras", "import_keras"),
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(mod), attr)
    raise AttributeError(f"module 'irc' has no attribute '{name}'")
