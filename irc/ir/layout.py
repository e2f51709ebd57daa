"""Layout permutations, computed from layout strings instead of written out.

An activation layout is a string of dimension letters ("NCHW", "NHWC"); a weight layout one of
"OIHW", "HWIO", "IOHW", "HWOI" (O = output channels, I = input channels). `permutation(src, dst)` is
the `perm` that `transpose(x, perm)` needs to turn a tensor laid out as `src` into one laid out as
`dst`. The op definitions say which weight layout each activation layout implies
(`OpDef.weight_layout`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .ops.registry import OpDef

ACTIVATION = {"nchw": "NCHW", "nhwc": "NHWC"}


def permutation(src: str, dst: str) -> tuple[int, ...]:
    """perm with dst[i] == src[perm[i]]: `x.permute(perm)` turns layout src into dst."""
    if sorted(src) != sorted(dst) or len(set(src)) != len(src):
        raise ValueError(f"layouts {src} and {dst} do not hold the same dimensions")
    return tuple(src.index(c) for c in dst)


def inverse(perm: Sequence[int]) -> tuple[int, ...]:
    out = [0] * len(perm)
    for i, p in enumerate(perm):
        out[p] = i
    return tuple(out)


def activation_layout(layout: str, rank: int = 4) -> str:
    """The letters of an activation of `rank` dims in `layout`: channels first or last around the spatial dims."""
    spatial = "DHW"[3 - (rank - 2):] if rank >= 3 else ""
    return "NC" + spatial if layout == "nchw" else "N" + spatial + "C"


def activation_perm(src: str, dst: str, rank: int = 4) -> tuple[int, ...]:
    """perm from one activation layout ("nchw"/"nhwc") to another for a tensor of `rank` dims."""
    return permutation(activation_layout(src, rank), activation_layout(dst, rank))


def weight_perm(opdef: OpDef, src: str, dst: str) -> tuple[int, ...]:
    """perm turning `opdef`'s weight in activation layout src ("nhwc") into its form for dst ("nchw")."""
    return permutation(opdef.weight_layout[src], opdef.weight_layout[dst])


def reorder(src: str, dst: str, rank: int) -> tuple[int, ...] | None:
    """perm turning an activation of any `rank` >= 2 from layout src ("nchw"/"nhwc") into dst (depth-to-space
    goes through rank 6, past activation_layout's letters); None below rank 2."""
    if rank < 2:
        return None
    spatial = "".join(chr(ord("a") + i) for i in range(rank - 2))
    letters = {"nchw": "NC" + spatial, "nhwc": "N" + spatial + "C"}
    return permutation(letters[src], letters[dst])
