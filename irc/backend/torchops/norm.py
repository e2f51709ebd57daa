"""Torch expressions for normalisation and softmax (irc/ir/ops/norm.py)."""

from __future__ import annotations

from .base import helper, lit, lower


@lower("batch_norm")
def batch_norm(ctx, op):
    x, w, b, m, v = (ctx.arg(i) for i in range(5))
    eps = lit(op.attrs["epsilon"])
    if op.attrs.get("layout", "nchw") == "nhwc":
        return f"F.batch_norm({x}.permute(0, 3, 1, 2), {m}, {v}, {w}, {b}, False, 0.0, {eps}).permute(0, 2, 3, 1)"
    return f"F.batch_norm({x}, {m}, {v}, {w}, {b}, False, 0.0, {eps})"


helper("layer_norm_axes", """
def layer_norm_axes(x, axes, weight, bias, eps):
    # layer norm over axes that are not the trailing ones: move them last, normalise, move back
    rest = [d for d in range(x.dim()) if d not in axes]
    perm = rest + list(axes)
    y = x.permute(perm)
    y = F.layer_norm(y, y.shape[len(rest):], None, None, eps)
    y = y.permute([perm.index(d) for d in range(x.dim())])
    shape = [x.shape[d] if d in axes else 1 for d in range(x.dim())]
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y
""")


@lower("layer_norm")
def layer_norm(ctx, op):
    x = op.operands[0]
    rank = x.type.rank
    axes = sorted(a % rank for a in op.attrs["axes"])
    eps = lit(op.attrs["epsilon"])
    if axes == list(range(rank - len(axes), rank)):
        shape = lit([x.type.shape[a] for a in axes]) if all(x.type.shape[a] is not None for a in axes) else \
            f"{ctx.arg(0)}.shape[{axes[0]}:]"
        return f"F.layer_norm({ctx.arg(0)}, {shape}, {ctx.arg(1)}, {ctx.arg(2)}, {eps})"
    return f"{ctx.helper('layer_norm_axes')}({ctx.arg(0)}, {lit(axes)}, {ctx.arg(1)}, {ctx.arg(2)}, {eps})"


@lower("group_norm")
def group_norm(ctx, op):
    return (f"F.group_norm({ctx.arg(0)}, {op.attrs['num_groups']}, {ctx.arg(1)}, {ctx.arg(2)}, "
            f"{lit(op.attrs['epsilon'])})")


@lower("softmax")
def softmax(ctx, op):
    return f"F.softmax({ctx.arg(0)}, {op.attrs['axis']})"


@lower("log_softmax")
def log_softmax(ctx, op):
    return f"F.log_softmax({ctx.arg(0)}, {op.attrs['axis']})"
