"""Normalisation and softmax (irc/ir/ops/norm.py): torch expressions and nn.BatchNorm / LayerNorm /
GroupNorm."""

from __future__ import annotations

from ...ir.core import Op
from .base import DEFAULT, Ctx, Src, call, ctor_keywords, emits, helper, in_nchw, lit, module_form, unless

EPS = 1e-05  # torch's default epsilon


def _optional(ctx: Ctx, index: int) -> object:
    """An optional tensor operand as a keyword value: left out when absent."""
    return DEFAULT if ctx.arg(index) == "None" else Src(ctx.arg(index))


@emits("batch_norm")
def batch_norm(ctx: Ctx, op: Op) -> str:
    mean, var = ctx.arg(3), ctx.arg(4)
    return in_nchw(op, ctx.arg(0), lambda x: call("F.batch_norm", x, mean, var, weight=_optional(ctx, 1),
                                                  bias=_optional(ctx, 2), eps=unless(op.attrs["epsilon"], EPS)))


helper("layer_norm_axes", """
def layer_norm_axes(x, axes, weight, bias, eps):
    # layer norm over axes that are not the trailing ones: move them last, normalise, move back
    rest = [d for d in range(x.dim()) if d not in axes]
    perm = rest + list(axes)
    y = x.permute(perm)
    y = F.layer_norm(y, y.shape[len(rest):], eps=eps)
    y = y.permute([perm.index(d) for d in range(x.dim())])
    shape = [x.shape[d] if d in axes else 1 for d in range(x.dim())]
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y
""")


def _trailing_axes(op: Op) -> list[int] | None:
    """The normalised axes when they are the trailing ones (what F.layer_norm takes), else None."""
    rank = op.operands[0].type.rank
    axes = sorted(a % rank for a in op.attrs["axes"])
    return axes if axes == list(range(rank - len(axes), rank)) else None


@emits("layer_norm")
def layer_norm(ctx: Ctx, op: Op) -> str:
    x = op.operands[0]
    rank = x.type.rank
    axes = _trailing_axes(op)
    eps = op.attrs["epsilon"]
    if axes is None:
        return call(ctx.helper("layer_norm_axes"), ctx.arg(0), axes=sorted(a % rank for a in op.attrs["axes"]),
                    weight=Src(ctx.arg(1)), bias=Src(ctx.arg(2)), eps=eps)
    if all(x.type.shape[a] is not None for a in axes):
        shape = lit([x.type.shape[a] for a in axes])
    else:
        shape = f"{ctx.arg(0)}.shape[{axes[0]}:]"
    return call("F.layer_norm", ctx.arg(0), shape, weight=_optional(ctx, 1), bias=_optional(ctx, 2),
                eps=unless(eps, EPS))


@emits("group_norm")
def group_norm(ctx: Ctx, op: Op) -> str:
    return call("F.group_norm", ctx.arg(0), num_groups=op.attrs["num_groups"], weight=_optional(ctx, 1),
                bias=_optional(ctx, 2), eps=unless(op.attrs["epsilon"], EPS))


@emits("softmax")
def softmax(ctx: Ctx, op: Op) -> str:
    return call("F.softmax", ctx.arg(0), dim=op.attrs["axis"])


@emits("log_softmax")
def log_softmax(ctx: Ctx, op: Op) -> str:
    return call("F.log_softmax", ctx.arg(0), dim=op.attrs["axis"])


# ----------------------------------------------------------------------------- nn.Module forms


def _eps(op: Op) -> tuple[str, str | None]:
    eps = op.attrs["epsilon"]
    return ("eps", None if eps == EPS else repr(float(eps)))


def _batch_norm_call(ctx: Ctx, op: Op, module: str) -> str:
    return in_nchw(op, ctx.arg(0), lambda x: f"{module}({x})")


BATCH_NORM_CLASS = {2: "BatchNorm1d", 3: "BatchNorm1d", 4: "BatchNorm2d", 5: "BatchNorm3d"}  # by input rank


@module_form("batch_norm", call=_batch_norm_call, extra_state=("num_batches_tracked",))
def batch_norm_module(op: Op, params: list, dtype: str | None) -> str | None:
    w, rank = params[0], op.operands[0].type.rank
    if op.attrs["layout"] == "nhwc" and rank != 4:
        return None
    cls = BATCH_NORM_CLASS.get(rank)
    if cls is None or w.rank != 1 or any(p is None for p in params):
        return None
    return f"nn.{cls}({w.shape[0]}" + ctor_keywords([_eps(op), ("dtype", dtype)]) + ")"


@module_form("layer_norm")
def layer_norm_module(op: Op, params: list, dtype: str | None) -> str | None:
    w, x = params[0], op.operands[0].type
    axes = _trailing_axes(op)
    if axes is None or list(w.shape) != [x.shape[i] for i in axes]:
        return None
    shape = str(w.shape[0]) if w.rank == 1 else f"({', '.join(str(d) for d in w.shape)})"
    bias = ("bias", None if params[1] is not None else False)
    return f"nn.LayerNorm({shape}" + ctor_keywords([_eps(op), bias, ("dtype", dtype)]) + ")"


@module_form("group_norm")
def group_norm_module(op: Op, params: list, dtype: str | None) -> str | None:
    w = params[0]
    if any(p is None for p in params) or w.rank != 1:
        return None
    return f"nn.GroupNorm({op.attrs['num_groups']}, {w.shape[0]}" + ctor_keywords([_eps(op), ("dtype", dtype)]) + ")"
