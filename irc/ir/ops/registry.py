"""The op registry: the single source of truth for what an op is.

Each op is declared once with `define(...)`: its operands (optional ones end in `?`, a variadic
one in `*`), its attributes (kind, default), how many results it has, a shape/type inference
function and an optional verifier. The parser, verifier, printer, passes, backends and
`docs/ops.md` all read this table.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable

from ..core import DTYPES, DenseAttr, TensorType

REQUIRED = object()  # an attribute that must be given
ABSENT = None  # default of an optional attribute that may be left out


class ShapeError(Exception):
    """Raised by inference/verify functions: the op's operands or attributes do not fit."""


@dataclass
class Attr:
    name: str
    kind: str  # int float bool str ints floats pairs dense enum
    default: object = REQUIRED
    choices: tuple = ()
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def describe(self) -> str:
        kind = "one of " + ", ".join(f'"{c}"' for c in self.choices) if self.kind == "enum" else self.kind
        if self.required:
            return kind + ", required"
        if self.default is ABSENT:
            return kind + ", optional"
        return f"{kind}, default {format_attr_doc(self.default)}"


def format_attr_doc(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    return repr(v)


@dataclass
class OpDef:
    name: str  # full name, "nn.conv2d"
    family: str
    operands: tuple  # ("input", "weight", "bias?") or ("inputs*",)
    attrs: dict  # name -> Attr
    infer: Callable  # (in_types: list[TensorType|None], attrs: dict) -> list[TensorType]
    verify: Callable | None = None  # (in_types, attrs) -> None, raises ShapeError
    num_results: object = 1  # an int, or a callable (attrs) -> int
    doc: str = ""
    # attributes that hold axes of the first operand (rewritten by layout passes)
    axis_attrs: tuple = ()
    spatial: bool = False  # carries a `layout` attribute
    # the state_dict suffixes of param operands 1, 2, ... when the op is one framework module
    # (("weight", "bias") for conv2d); a callable (attrs) -> tuple where they depend on attributes
    params: object = ()
    # the weight (operand 1) layout each activation layout implies: {"nchw": "OIHW", "nhwc": "HWIO"}
    weight_layout: dict | None = None
    traits: frozenset = frozenset()  # see TRAITS
    flops: Callable | None = None  # (op) -> int; None: one FLOP per output element
    canonical: tuple = ()  # canonicalisation patterns: (op, rewriter) -> bool (True when it rewrote)

    @property
    def kind(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def min_operands(self) -> int:
        return sum(1 for o in self.operands if not o.endswith(("?", "*")))

    @property
    def max_operands(self):
        return None if any(o.endswith("*") for o in self.operands) else len(self.operands)

    def results_for(self, attrs) -> int:
        return self.num_results(attrs) if callable(self.num_results) else self.num_results

    def operand_names(self) -> list[str]:
        return [o.rstrip("?*") for o in self.operands]

    def param_names(self, attrs) -> tuple:
        """The state_dict suffixes of param operands 1, 2, ... (empty when the op is no module)."""
        return tuple(self.params(attrs)) if callable(self.params) else self.params

    def has(self, trait: str) -> bool:
        return trait in self.traits


# what a trait promises, for the passes that ask
TRAITS = {
    "elementwise": "each output element depends on the elements at the same index of broadcast operands",
    "unary": "one operand, result of its shape and dtype (an element-wise function)",
    "movement": "moves or selects data without arithmetic (no FLOPs)",
    "reshape": "changes the shape only; the data in memory order is unchanged",
    "commutative": "operands 0 and 1 may be swapped",
    "per_channel_affine": "an affine map per channel of its input (fusable into a neighbouring conv or linear)",
}


OPS: dict[str, OpDef] = {}

LAYOUT = Attr("layout", "enum", "nchw", ("nchw", "nhwc"), "memory layout of activations")


def define(name, family, operands=(), attrs=(), infer=None, verify=None, num_results=1, doc="",
           axis_attrs=(), spatial=False, params=(), weight_layout=None, traits=(), flops=None,
           canonical=()) -> OpDef:
    full = name if "." in name else "nn." + name
    if full in OPS:
        raise ValueError(f"op {full} defined twice")
    unknown = set(traits) - set(TRAITS)
    if unknown:
        raise ValueError(f"op {full}: unknown traits {sorted(unknown)}")
    attr_list = list(attrs) + ([LAYOUT] if spatial else [])
    opdef = OpDef(full, family, tuple(operands), {a.name: a for a in attr_list}, infer, verify, num_results,
                  doc, tuple(axis_attrs), spatial, params, weight_layout, frozenset(traits), flops, tuple(canonical))
    OPS[full] = opdef
    return opdef


def lookup(name: str) -> OpDef | None:
    return OPS.get(name)


# ----------------------------------------------------------------------------- attribute checking


def check_attr(spec: Attr, value):
    """Return the normalised value, or raise ShapeError saying what kind was expected."""
    k = spec.kind

    def bad(expected):
        raise ShapeError(f"attribute '{spec.name}' must be {expected}, got {_show(value)}")

    if k == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            bad("an integer")
        return value
    if k == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            bad("a number")
        return float(value)
    if k == "bool":
        if not isinstance(value, bool):
            bad("true or false")
        return value
    if k == "str":
        if not isinstance(value, str):
            bad("a string")
        return value
    if k == "enum":
        if value not in spec.choices:
            bad("one of " + ", ".join(f'"{c}"' for c in spec.choices))
        return value
    if k == "ints":
        if not isinstance(value, list) or any(isinstance(x, bool) or not isinstance(x, int) for x in value):
            bad("a list of integers")
        return value
    if k == "floats":
        if not isinstance(value, list) or any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in value):
            bad("a list of numbers")
        return [float(x) for x in value]
    if k == "pairs":
        if not isinstance(value, list) or any(
            not isinstance(p, list) or len(p) != 2 or any(isinstance(x, bool) or not isinstance(x, int) for x in p)
            for p in value
        ):
            bad("a list of [begin, end] integer pairs")
        return value
    if k == "dense":
        if not isinstance(value, DenseAttr):
            bad("a dense<...> literal")
        return value
    if k == "any":
        return value
    raise AssertionError(f"unknown attribute kind {k}")


def _show(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, DenseAttr):
        return "a dense literal"
    return repr(value)


def normalize_attrs(opdef: OpDef, attrs: dict) -> dict:
    """Check names and kinds, fill in defaults. Raises ShapeError on the first problem."""
    out = {}
    for key, value in attrs.items():
        spec = opdef.attrs.get(key)
        if spec is None:
            known = ", ".join(sorted(opdef.attrs)) or "none"
            raise ShapeError(f"{opdef.name} has no attribute '{key}' (known: {known})")
        out[key] = check_attr(spec, value)
    for key, spec in opdef.attrs.items():
        if key not in out:
            if spec.required:
                raise ShapeError(f"{opdef.name} needs attribute '{key}' ({spec.describe()})")
            if spec.default is not ABSENT:
                out[key] = spec.default
    return out


def fill_defaults(name: str, attrs: dict) -> dict:
    """`attrs` with every missing default of op `name` added (nothing checked: the verifier does that).

    Every place that builds an op calls this, so consumers read `op.attrs["layout"]`, never
    `.get("layout", "nchw")`."""
    opdef = OPS.get(name)
    if opdef is None:
        return dict(attrs)
    out = dict(attrs)
    for key, spec in opdef.attrs.items():
        if key not in out and not spec.required and spec.default is not ABSENT:
            out[key] = copy.deepcopy(spec.default) if isinstance(spec.default, list) else spec.default
    return out


def infer_types(opdef: OpDef, in_types: list, attrs: dict) -> list[TensorType]:
    if opdef.verify is not None:
        opdef.verify(in_types, attrs)
    res = opdef.infer(in_types, attrs)
    return list(res) if isinstance(res, (list, tuple)) else [res]


# ----------------------------------------------------------------------------- shape helpers


def norm_axis(axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < max(rank, 1):
        raise ShapeError(f"{what} {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0


def need_rank(t: TensorType, rank, what: str = "input"):
    ranks = rank if isinstance(rank, tuple) else (rank,)
    if t.rank not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise ShapeError(f"{what} must have rank {want}, got {t}")


def same_dtype(types, what="operands"):
    dtypes = {t.dtype for t in types if t is not None}
    if len(dtypes) > 1:
        raise ShapeError(f"{what} have different element types: " + ", ".join(str(t) for t in types))


def need_float(t: TensorType, what="input"):
    if t.dtype not in ("f16", "bf16", "f32", "f64"):
        raise ShapeError(f"{what} must have a floating-point element type, got {t}")


def dims_equal(a, b) -> bool:
    """Static dims must agree; a dynamic dim agrees with anything."""
    return a is None or b is None or a == b


def broadcast_shapes(shapes: list[tuple]) -> tuple:
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        static = {d for d in dims if d is not None and d != 1}
        if len(static) > 1:
            raise ShapeError("shapes " + ", ".join(_shape_str(s) for s in shapes) + " do not broadcast")
        if static:
            out.append(static.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def _shape_str(s) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in s) + "]"


def conv_out(size, k, stride, pad_b, pad_e, dilation=1, ceil_mode=False):
    """Output length of a convolution or pooling window along one dimension (PyTorch's rule)."""
    if size is None:
        return None
    span = size + pad_b + pad_e - dilation * (k - 1) - 1
    if span < 0:
        raise ShapeError(f"window of size {dilation * (k - 1) + 1} does not fit input size {size} with padding [{pad_b}, {pad_e}]")
    if ceil_mode:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + pad_b:
            out -= 1
    else:
        out = span // stride + 1
    return out


def check_positive(attrs, *names):
    for n in names:
        v = attrs.get(n)
        if v is None:
            continue
        vals = v if isinstance(v, list) else [v]
        if any(x <= 0 for x in vals):
            raise ShapeError(f"attribute '{n}' must be positive, got {v}")


def check_len(attrs, n, *names):
    for name in names:
        v = attrs.get(name)
        if v is not None and len(v) != n:
            raise ShapeError(f"attribute '{name}' must have {n} entries, got {len(v)}")


def prod(dims):
    return math.prod(dims)


__all__ = ["Attr", "OpDef", "OPS", "define", "lookup", "ShapeError", "REQUIRED", "ABSENT", "DTYPES"]
