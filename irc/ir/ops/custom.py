"""Opaque ops: a framework module irc keeps whole instead of importing its inside (`irc-import --keep-module`).

`nn.call_module` calls the user's own class. Its operands are the module's tensor inputs, then its
state_dict entries (as `nn.param`s under the source's state_dict keys), in the module's state_dict order;
its result types are the ones the source framework recorded (no shape rule can know them), carried in
the `types` attribute so that the parser, the verifier and `infer-shapes` can check them.
"""

from __future__ import annotations

from ..core import TensorType, parse_type
from .registry import Attr, ShapeError, define


def _result_types(attrs: dict) -> list[TensorType]:
    out = []
    for text in attrs["types"]:
        try:
            out.append(parse_type(text))
        except Exception as e:  # noqa: BLE001  (a hand-edited type string)
            raise ShapeError(f"attribute 'types': {text!r} is not a tensor type ({e})") from None
    return out


def _infer_call_module(ins: list[TensorType | None], attrs: dict) -> list[TensorType]:
    inputs, names = attrs["inputs"], attrs["params"]
    for what in ("params", "types"):
        if not isinstance(attrs[what], list) or not all(isinstance(x, str) for x in attrs[what]):
            raise ShapeError(f"attribute '{what}' must be a list of strings")
    if inputs < 0 or inputs + len(names) != len(ins):
        raise ShapeError(f"{inputs} inputs and {len(names)} params (attribute 'params') need "
                         f"{inputs + len(names)} operands, got {len(ins)}")
    if not attrs["types"]:
        raise ShapeError("attribute 'types' must name at least one result type")
    return _result_types(attrs)


def _result_count(attrs: dict) -> int:
    """one per entry of `types` (the module's results)."""
    return len(attrs["types"]) if isinstance(attrs.get("types"), list) else 1


def _uncounted(op: object) -> int:
    """Not counted (0): irc cannot see inside a kept module."""
    return 0


define("call_module", "custom", ("operands*",),
       [Attr("module", "str", doc="the class: `package.module:Class` (or `path/to/file.py:Class`)"),
        Attr("path", "str", doc="the instance's path in the source model (`layer1.0.attn`)"),
        Attr("inputs", "int", doc="how many operands are the call's tensor inputs; the rest are its state"),
        Attr("params", "any", doc="the state_dict names (inside the module) of the operands after the inputs"),
        Attr("types", "any", doc="the result types the source recorded, as text (`tensor<?x8xf32>`)"),
        Attr("init", "str", "", doc="the constructor's keyword arguments as JSON; empty: none recovered, the "
                                    "class is constructed with no arguments and its state loaded"),
        Attr("returns", "enum", "tensor", ("tensor", "tuple"),
             doc="what the module returns: one tensor, or a flat tuple of tensors")],
       _infer_call_module, flops=_uncounted, num_results=_result_count,
       doc="Calls the user's own nn.Module class, kept whole by `irc-import --keep-module`: the torch executor "
           "and the emitted PyTorch import and call it; the ONNX emitter writes an `irc.keep` custom-domain node. "
           "Passes leave it alone.")
