"""Passes: one per file, registered by name. `irc-opt --list-passes` prints this registry."""

from .base import Pass, PassError
from .canonicalize import Canonicalize
from .cse import CommonSubexpressionElimination
from .dce import DeadCodeElimination
from .fold_constants import FoldConstants
from .fuse_bn import FuseBatchNorm
from .fuse_gelu import FuseGelu
from .fuse_linear import FuseLinear
from .fuse_silu import FuseSilu
from .infer_shapes import InferShapes
from .manager import REGISTRY, parse_pipeline, register, run_passes
from .merge_recurrent_layers import MergeRecurrentLayers
from .nchw_to_nhwc import NchwToNhwc
from .nhwc_to_nchw import NhwcToNchw

for _cls in (InferShapes, DeadCodeElimination, FuseBatchNorm, FoldConstants, Canonicalize,
             CommonSubexpressionElimination, NhwcToNchw, NchwToNhwc, FuseSilu, FuseGelu, FuseLinear,
             MergeRecurrentLayers):
    register(_cls)

__all__ = ["Pass", "PassError", "REGISTRY", "parse_pipeline", "register", "run_passes"]
