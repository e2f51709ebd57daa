"""Torch expressions for data movement (irc/ir/ops/shape.py)."""

from __future__ import annotations

from ...ir.core import INT64_MAX
from .base import helper, lit, lower


@lower("concat")
def concat(ctx, op):
    return f"torch.cat([{', '.join(ctx.args)}], {op.attrs['axis']})"


@lower("split")
def split(ctx, op):
    return f"torch.split({ctx.arg(0)}, {lit(op.attrs['sizes'])}, {op.attrs['axis']})"


@lower("slice")
def slice_(ctx, op):
    a = op.attrs
    rank = op.operands[0].type.rank
    steps = a.get("steps") or [1] * len(a["axes"])
    index = [":"] * rank
    for ax, s, e, st in zip(a["axes"], a["starts"], a["ends"], steps):
        start = "" if s == 0 else str(s)
        end = "" if e >= INT64_MAX else str(e)
        index[ax % rank] = f"{start}:{end}" + (f":{st}" if st != 1 else "")
    while index and index[-1] == ":":
        index.pop()
    return f"{ctx.arg(0)}[{', '.join(index) or ':'}]"


@lower("reshape")
def reshape(ctx, op):
    x = ctx.arg(0)
    dims = [f"{x}.shape[{i}]" if d == 0 else str(d) for i, d in enumerate(op.attrs["shape"])]
    return f"{x}.reshape({', '.join(dims)}{',' if len(dims) == 1 else ''})"


@lower("flatten")
def flatten(ctx, op):
    return f"torch.flatten({ctx.arg(0)}, {op.attrs['start_axis']}, {op.attrs['end_axis']})"


@lower("transpose")
def transpose(ctx, op):
    return f"{ctx.arg(0)}.permute{lit(op.attrs['perm'])}"


@lower("pad")
def pad(ctx, op):
    a = op.attrs
    flat = [p for pair in reversed(a["pads"]) for p in pair]
    while len(flat) > 2 and flat[-2:] == [0, 0]:  # F.pad pads the last dimensions first
        flat = flat[:-2]
    if a["mode"] == "constant":
        return f"F.pad({ctx.arg(0)}, {lit(flat)}, value={lit(a['value'])})"
    return f"F.pad({ctx.arg(0)}, {lit(flat)}, mode={lit(a['mode'])})"


@lower("squeeze")
def squeeze(ctx, op):
    return f"{ctx.arg(0)}.squeeze({lit(op.attrs['axes'])})"


@lower("unsqueeze")
def unsqueeze(ctx, op):
    rank = op.results[0].type.rank
    expr = ctx.arg(0)
    for a in sorted(a % rank for a in op.attrs["axes"]):
        expr = f"{expr}.unsqueeze({a})"
    return expr


@lower("expand")
def expand(ctx, op):
    return f"{ctx.arg(0)}.expand{lit(op.attrs['shape'])}"


@lower("roll")
def roll(ctx, op):
    return f"torch.roll({ctx.arg(0)}, {lit(op.attrs['shifts'])}, {lit(op.attrs['axes'])})"


helper("gather_axis", """
def gather_axis(x, indices, axis):
    # x.shape[:axis] + indices.shape + x.shape[axis+1:], like ONNX Gather
    axis = axis % x.dim()
    out = torch.index_select(x, axis, indices.reshape(-1))
    return out.reshape(x.shape[:axis] + indices.shape + x.shape[axis + 1:])
""")


@lower("gather")
def gather(ctx, op):
    if op.attrs["axis"] % op.operands[0].type.rank == 0:
        return f"{ctx.arg(0)}[{ctx.arg(1)}]"
    return f"{ctx.helper('gather_axis')}({ctx.arg(0)}, {ctx.arg(1)}, {op.attrs['axis']})"


@lower("expand_like")
def expand_like(ctx, op):
    dims = [str(d) for d in op.attrs["shape"]]
    for i, j in op.attrs["like_dims"]:
        dims[i] = f"{ctx.arg(1)}.shape[{j}]"
    return f"{ctx.arg(0)}.expand({', '.join(dims)}{',' if len(dims) == 1 else ''})"
