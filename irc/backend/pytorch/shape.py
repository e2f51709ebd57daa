"""Data movement (irc/ir/ops/shape.py): torch expressions."""

from __future__ import annotations

from ...ir.core import INT64_MAX, Op
from .base import LAYERS, Ctx, call, emits, helper, lit, unless


@emits("concat")
def concat(ctx: Ctx, op: Op) -> str:
    return f"torch.cat([{', '.join(ctx.args)}], {op.attrs['axis']})"


@emits("split")
def split(ctx: Ctx, op: Op) -> str:
    return call("torch.split", ctx.arg(0), lit(op.attrs["sizes"]), dim=op.attrs["axis"])


@emits("slice")
def slice_(ctx: Ctx, op: Op) -> str:
    attrs = op.attrs
    rank = op.operands[0].type.rank
    steps = attrs.get("steps") or [1] * len(attrs["axes"])
    index = [":"] * rank
    for axis, start, end, step in zip(attrs["axes"], attrs["starts"], attrs["ends"], steps, strict=True):
        first = "" if start == 0 else str(start)
        last = "" if end >= INT64_MAX else str(end)
        index[axis % rank] = f"{first}:{last}" + (f":{step}" if step != 1 else "")
    while index and index[-1] == ":":
        index.pop()
    return f"{ctx.arg(0)}[{', '.join(index) or ':'}]"


def _dims(dims: list[str]) -> str:
    return f"{', '.join(dims)}{',' if len(dims) == 1 else ''}"


@emits("reshape")
def reshape(ctx: Ctx, op: Op) -> str:
    x = ctx.arg(0)
    return f"{x}.reshape({_dims([f'{x}.shape[{i}]' if d == 0 else str(d) for i, d in enumerate(op.attrs['shape'])])})"


@emits("flatten")
def flatten(ctx: Ctx, op: Op) -> str:
    return call("torch.flatten", ctx.arg(0), start_dim=unless(op.attrs["start_axis"], 0),
                end_dim=unless(op.attrs["end_axis"], -1))


@LAYERS.register("flatten")
def flatten_layer(op: Op, inplace: bool) -> str:
    return call("nn.Flatten", start_dim=unless(op.attrs["start_axis"], 1), end_dim=unless(op.attrs["end_axis"], -1))


@emits("transpose")
def transpose(ctx: Ctx, op: Op) -> str:
    return f"{ctx.arg(0)}.permute{lit(op.attrs['perm'])}"


@emits("pad")
def pad(ctx: Ctx, op: Op) -> str:
    attrs = op.attrs
    flat = [p for pair in reversed(attrs["pads"]) for p in pair]
    # F.pad pads the last dimensions first; its reflect/replicate/circular modes take exactly the dims after
    # the first two (batch and channels) of a 3-D to 5-D tensor, so those keep their zero pairs
    keep = 2 if attrs["mode"] == "constant" or not 3 <= len(attrs["pads"]) <= 5 else 2 * (len(attrs["pads"]) - 2)
    while len(flat) > keep and flat[-2:] == [0, 0]:
        flat = flat[:-2]
    if attrs["mode"] == "constant":
        return f"F.pad({ctx.arg(0)}, {lit(flat)}, value={lit(attrs['value'])})"
    return f"F.pad({ctx.arg(0)}, {lit(flat)}, mode={lit(attrs['mode'])})"


@emits("squeeze")
def squeeze(ctx: Ctx, op: Op) -> str:
    return f"{ctx.arg(0)}.squeeze({lit(op.attrs['axes'])})"


@emits("unsqueeze")
def unsqueeze(ctx: Ctx, op: Op) -> str:
    rank = op.results[0].type.rank
    expr = ctx.arg(0)
    for axis in sorted(a % rank for a in op.attrs["axes"]):
        expr = f"{expr}.unsqueeze({axis})"
    return expr


@emits("expand")
def expand(ctx: Ctx, op: Op) -> str:
    return f"{ctx.arg(0)}.expand{lit(op.attrs['shape'])}"


@emits("roll")
def roll(ctx: Ctx, op: Op) -> str:
    return call("torch.roll", ctx.arg(0), lit(op.attrs["shifts"]), dims=op.attrs["axes"])


helper("gather_axis", """
def gather_axis(x, indices, axis):
    # x.shape[:axis] + indices.shape + x.shape[axis+1:], like ONNX Gather
    axis = axis % x.dim()
    out = torch.index_select(x, axis, indices.reshape(-1))
    return out.reshape(x.shape[:axis] + indices.shape + x.shape[axis + 1:])
""")


@emits("gather")
def gather(ctx: Ctx, op: Op) -> str:
    if op.attrs["axis"] % op.operands[0].type.rank == 0:
        return f"{ctx.arg(0)}[{ctx.arg(1)}]"
    return call(ctx.helper("gather_axis"), ctx.arg(0), ctx.arg(1), axis=op.attrs["axis"])


@emits("expand_like")
def expand_like(ctx: Ctx, op: Op) -> str:
    dims = [str(d) for d in op.attrs["shape"]]
    for i, j in op.attrs["like_dims"]:
        dims[i] = f"{ctx.arg(1)}.shape[{j}]"
    return f"{ctx.arg(0)}.expand({_dims(dims)})"


@emits("gather_elements")
def gather_elements(ctx: Ctx, op: Op) -> str:
    return f"torch.gather({ctx.arg(0)}, {op.attrs['axis']}, {ctx.arg(1)})"


@emits("tile")
def tile(ctx: Ctx, op: Op) -> str:
    return f"{ctx.arg(0)}.repeat{lit(op.attrs['repeats'])}"
