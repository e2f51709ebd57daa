"""The IR: types, values, ops, functions, modules; text parser and printer; verifier; weights.

Imports nothing from torch, ONNX, or the rest of irc.
"""

from .core import DTYPES, DenseAttr, FileLoc, Frame, Func, FusedLoc, Module, NameLoc, Op, TensorType, Value, parse_type
from .diagnostics import Diagnostic, DiagnosticError, IrcError
from .io import load, save
from .parser import parse
from .printer import print_module
from .verifier import verify
from .weights import WeightStore

__all__ = [
    "DTYPES", "DenseAttr", "FileLoc", "Frame", "Func", "FusedLoc", "Module", "NameLoc", "Op", "TensorType", "Value",
    "parse_type", "Diagnostic", "DiagnosticError", "IrcError", "load", "save", "parse", "print_module", "verify",
    "WeightStore",
]
