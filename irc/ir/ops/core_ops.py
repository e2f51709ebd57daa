"""Ops without operands: parameters from the weight file and inline constants; casts; and calls of the
module's other functions (one per distinct block of the source, irc.ir.structure)."""

from __future__ import annotations

from ..core import DTYPES, Op, TensorType
from .registry import Attr, PatternRewriter, ShapeError, define


def _dense_shape(values):
    shape = []
    while isinstance(values, list):
        shape.append(len(values))
        values = values[0] if values else None
    return tuple(shape)


def infer_constant(ins: list[TensorType], attrs: dict) -> TensorType:
    dense = attrs["value"]
    if not dense.is_splat:
        got = _dense_shape(dense.values)
        if got != dense.type.shape:
            raise ShapeError(f"dense literal has shape {list(got)} but its type is {dense.type}")
    elif not dense.type.is_static:
        raise ShapeError(f"dense literal type {dense.type} must be static")
    return dense.type


def infer_param(ins: list[TensorType], attrs: dict) -> None:
    # A param's type is whatever the weight file holds; the verifier compares the two.
    return None


define("param", "core", (), [Attr("key", "str", doc="the tensor's name in the weight file")], infer_param,
       traits=("movement",),
       doc="A tensor read from the module's weight file. The result type must equal the stored tensor's.")
define("constant", "core", (), [Attr("value", "dense")], infer_constant, traits=("movement",),
       doc="A small literal tensor written inline: `dense<[...]> : tensor<...>`, or a splat `dense<1.0>`.")


def infer_call(ins: list[TensorType], attrs: dict) -> None:
    # A call's result types are its callee's; the verifier compares the two.
    return None


def _call_results(attrs: dict) -> int:
    """as many as the callee returns."""
    return -1  # the verifier counts them against the callee


define("call", "core", ("operands*",),
       [Attr("callee", "str", doc="the function called (its name without the @)"),
        Attr("scope", "str", doc="the instance's attribute path under its caller (`layer1`, `0`): the callee's "
                                 "`nn.param` keys are read under this prefix, and the emitted PyTorch module "
                                 "holds the instance at this path")],
       infer_call, num_results=_call_results, traits=("inlined",),
       doc="Runs the function @callee on the operands: one instance of a block of the source model (a "
           "Bottleneck, an nn.Sequential). The callee's `nn.param` keys are relative to the call's scope, so one "
           "function serves every instance whose ops are alike; editing it changes them all. Passes run on the "
           "inlined module and the blocks are found again afterwards (irc.ir.structure); every backend but "
           "PyTorch writes the inlined module (trait `inlined`).")


def infer_cast(ins: list[TensorType], attrs: dict) -> TensorType:
    return ins[0].with_dtype(attrs["dtype"])


def drop_same_type_cast(op: Op, rewriter: PatternRewriter) -> bool:
    """A cast to the type the operand has already is dropped."""
    return op.attrs["dtype"] == op.operands[0].type.dtype and rewriter.forward(op, op.operands[0])


define("cast", "core", ("input",), [Attr("dtype", "enum", choices=DTYPES)], infer_cast,
       traits=("movement", "elementwise", "unary"), canonical=(drop_same_type_cast,),
       doc="Converts the element type (as torch.Tensor.to(dtype)).")
