"""Passes: one per file, registered by name. `irc-opt --list-passes` prints this registry."""

from .base import Pass, PassError
from .canonicalize import Canonicalize
from .cse import CommonSubexpressionElimination
from .dce import DeadCodeElimination
from .fold_constants import FoldConstants
from .fuse_bn import FuseBatchNorm
from .infer_shapes import InferShapes
from .nhwc_to_nchw import NhwcToNchw
from .manager import REGISTRY, parse_pipeline, register, run_passes

for _cls in (InferShapes, DeadCodeElimination, FuseBatchNorm, FoldConstants, Canonicalize,
             CommonSubexpressionElimination, NhwcToNchw):
    register(_cls)

__all__ = ["Pass", "PassError", "REGISTRY", "parse_pipeline", "register", "run_passes"]
