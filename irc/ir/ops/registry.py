"""The op registry: the single source of truth for what an op is.

Each op is declared once with `define(...)`: its operands (optional ones end in `?`, a variadic
one in `*`), its attributes (kind, default), how many results it has, a shape/type inference
function and an optional verifier; and the intrinsic facts generic passes ask for: `traits` (TRAITS),
its FLOP rule, its canonicalisation patterns and small per-op `rules` (RULES: dimension maps, the
per-channel affine map). The parser, verifier, printer, passes, backends and `docs/ops.md` all read
this table.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Protocol

from ..core import DTYPES, INT64_MAX, DenseAttr, Op, TensorType, Value

if TYPE_CHECKING:
    import numpy as np

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


def format_attr_doc(v: object) -> str:
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
    rules: dict = field(default_factory=dict)  # name -> small per-op function; see RULES

    @property
    def kind(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def min_operands(self) -> int:
        return sum(1 for o in self.operands if not o.endswith(("?", "*")))

    @property
    def max_operands(self) -> int | None:
        return None if any(o.endswith("*") for o in self.operands) else len(self.operands)

    def results_for(self, attrs: dict) -> int:
        return self.num_results(attrs) if callable(self.num_results) else self.num_results

    def operand_names(self) -> list[str]:
        return [o.rstrip("?*") for o in self.operands]

    def param_names(self, attrs: dict) -> tuple:
        """The state_dict suffixes of param operands 1, 2, ... (empty when the op is no module)."""
        return tuple(self.params(attrs)) if callable(self.params) else self.params

    def has(self, trait: str) -> bool:
        return trait in self.traits

    def rule(self, name: str) -> Callable | None:
        """The op's function for rule `name` (see RULES), or None when the op has none."""
        return self.rules.get(name)


# what a trait promises, for the passes that ask
TRAITS = {
    "elementwise": "each output element depends on the elements at the same index of broadcast operands",
    "unary": "one operand, result of its shape (an element-wise function; only a cast changes the dtype)",
    "movement": "moves or selects data without arithmetic (no FLOPs)",
    "inlined": "replaced by what it stands for before passes and backends see it (irc.ir.structure.flatten)",
    "reshape": "changes the shape only; the data in memory order is unchanged",
    "commutative": "operands 0 and 1 may be swapped",
    "per_channel_affine": "an affine map per channel of its input (fusable into a neighbouring conv or linear); "
                          "rule channel_affine gives it",
    "transpose": "result dim i is operand 0's dim perm[i] (attribute `perm`); nothing else changes",
    "channel_weights": "a weighted sum over operand 0's channels: operand 1 is the weight ([O, I, ...] as "
                       "weight_layout says, [O, I] without one), operand 2 an optional bias per output channel",
    "input_shift_folds": "a per-channel shift of operand 0 folds into the bias when the op has no padding (every "
                         "output sees every weight tap); its weight's dim 0 is O",
    "last_dim_features": "operand 0's last dim holds the features, which dim 1 of operand 1 indexes; its other "
                         "dims are independent rows",
    "params_per_axis": "the operands after the first have one dim per entry of attribute `axes`, in increasing "
                       "axis order",
}

# the small per-op functions an op may carry (`define(..., rules={name: function})`), for the passes that ask
RULES = {
    "dim_map": "(op) -> {result dim: input dim} for the dims of operand 0 the result carries over unchanged",
    "merged_dims": "(op) -> (start, end) or None: operand 0's dims start..end become result dim start, every "
                   "other dim is kept in order",
    "channel_affine": "(arrays, attrs) -> (scale, shift): float64 per channel of the per_channel_affine map "
                      "y = x * scale + shift, from the op's operands 1.. as NumPy arrays",
}


class PatternRewriter(Protocol):
    """What a canonicalisation pattern (`OpDef.canonical`) may do; the canonicalize pass provides it."""

    def forward(self, op: Op, value: Value) -> bool:
        """Replace `op` by an existing value (and erase what that leaves unused); returns True."""

    def rebuild(self, op: Op, operands: list[Value], attrs: dict, name: str | None = None) -> bool:
        """Replace `op` by a new op (its own name unless `name`) on `operands`; returns True."""

    def is_erased(self, op: Op) -> bool:
        """Whether `op` was erased by an earlier rewrite of this round."""

    def constant(self, value: Value) -> np.ndarray | None:
        """The NumPy value of a param or constant, else None."""


OPS: dict[str, OpDef] = {}

LAYOUT = Attr("layout", "enum", "nchw", ("nchw", "nhwc"), "memory layout of activations")


def define(name: str, family: str, operands: Iterable[str] = (), attrs: Iterable[Attr] = (),
           infer: Callable | None = None, verify: Callable | None = None, num_results: int | Callable = 1,
           doc: str = "", axis_attrs: Iterable[str] = (), spatial: bool = False, params: tuple | Callable = (),
           weight_layout: dict | None = None, traits: Iterable[str] = (), flops: Callable | None = None,
           canonical: Iterable[Callable] = (), rules: dict | None = None) -> OpDef:
    full = name if "." in name else "nn." + name
    if full in OPS:
        raise ValueError(f"op {full} defined twice")
    unknown = set(traits) - set(TRAITS)
    if unknown:
        raise ValueError(f"op {full}: unknown traits {sorted(unknown)}")
    unknown = set(rules or {}) - set(RULES)
    if unknown:
        raise ValueError(f"op {full}: unknown rules {sorted(unknown)}")
    attr_list = list(attrs) + ([LAYOUT] if spatial else [])
    opdef = OpDef(full, family, tuple(operands), {a.name: a for a in attr_list}, infer, verify, num_results,
                  doc, tuple(axis_attrs), spatial, params, weight_layout, frozenset(traits), flops, tuple(canonical),
                  dict(rules or {}))
    OPS[full] = opdef
    return opdef


def lookup(name: str) -> OpDef | None:
    return OPS.get(name)


def carried_dims(op: Op) -> dict:
    """{result dim: operand 0 dim} for the dims `op` carries over unchanged (its dim_map rule; {} without one)."""
    rule = OPS[op.name].rule("dim_map")
    return rule(op) if rule is not None else {}


# ----------------------------------------------------------------------------- attribute checking


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _is_pair(p) -> bool:
    return isinstance(p, list) and len(p) == 2 and all(_is_int(x) for x in p)


# attribute kind -> (does a value fit, what it must be, how to normalise it)
KINDS = {
    "int": (_is_int, "an integer", None),
    "float": (_is_number, "a number", float),
    "bool": (lambda v: isinstance(v, bool), "true or false", None),
    "str": (lambda v: isinstance(v, str), "a string", None),
    "ints": (lambda v: isinstance(v, list) and all(_is_int(x) for x in v), "a list of integers", None),
    "floats": (lambda v: isinstance(v, list) and all(_is_number(x) for x in v), "a list of numbers",
               lambda v: [float(x) for x in v]),
    "pairs": (lambda v: isinstance(v, list) and all(_is_pair(p) for p in v), "a list of [begin, end] integer pairs",
              None),
    "dense": (lambda v: isinstance(v, DenseAttr), "a dense<...> literal", None),
    "any": (lambda v: True, "anything", None),
}


def check_attr(spec: Attr, value: object) -> object:
    """Return the normalised value, or raise ShapeError saying what kind was expected."""
    if spec.kind == "enum":
        fits, expected, normalise = value in spec.choices, "one of " + ", ".join(f'"{c}"' for c in spec.choices), None
    elif spec.kind in KINDS:
        test, expected, normalise = KINDS[spec.kind]
        fits = test(value)
    else:
        raise AssertionError(f"unknown attribute kind {spec.kind}")
    if not fits:
        raise ShapeError(f"attribute '{spec.name}' must be {expected}, got {_show(value)}")
    return normalise(value) if normalise is not None else value


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


def _check_float_attrs(opdef: OpDef, in_types: list, attrs: dict) -> None:
    """A finite float attribute of an op on floating-point data is a scalar torch converts to that dtype: it
    must fit the dtype (torch refuses 1e300 as a float32 slope or fill value at run time)."""
    from ..dense import FLOAT_MAX

    dtype = in_types[0].dtype if in_types and in_types[0] is not None else None
    if dtype not in FLOAT_MAX:
        return
    for name, spec in opdef.attrs.items():
        value = attrs.get(name)
        if spec.kind == "float" and isinstance(value, float) and math.isfinite(value) and abs(value) > FLOAT_MAX[dtype]:
            raise ShapeError(f"attribute '{name}' = {value!r} does not fit the operand's {dtype} "
                             f"(largest finite value {FLOAT_MAX[dtype]:g})")


def infer_types(opdef: OpDef, in_types: list, attrs: dict) -> list[TensorType]:
    _check_float_attrs(opdef, in_types, attrs)
    if opdef.verify is not None:
        opdef.verify(in_types, attrs)
    res = opdef.infer(in_types, attrs)
    out = list(res) if isinstance(res, (list, tuple)) else [res]
    for t in out:
        if t is not None and any(d is not None and not 0 <= d <= INT64_MAX for d in t.shape):
            raise ShapeError(f"the result would have shape {_shape_str(t.shape)}, outside 0 to 2**63-1 per dimension")
    return out


# ----------------------------------------------------------------------------- shape helpers


def norm_axis(axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < max(rank, 1):
        raise ShapeError(f"{what} {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0


def need_rank(t: TensorType, rank: int | tuple[int, ...], what: str = "input") -> None:
    ranks = rank if isinstance(rank, tuple) else (rank,)
    if t.rank not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise ShapeError(f"{what} must have rank {want}, got {t}")


def same_dtype(types: Sequence[TensorType | None], what: str = "operands") -> None:
    dtypes = {t.dtype for t in types if t is not None}
    if len(dtypes) > 1:
        raise ShapeError(f"{what} have different element types: " + ", ".join(str(t) for t in types))


def need_float(t: TensorType, what: str = "input") -> None:
    if t.dtype not in ("f16", "bf16", "f32", "f64"):
        raise ShapeError(f"{what} must have a floating-point element type, got {t}")


def dims_equal(a: int | None, b: int | None) -> bool:
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


def conv_out(size: int | None, k: int, stride: int, pad_b: int, pad_e: int, dilation: int = 1,
             ceil_mode: bool = False) -> int | None:
    """Output length of a convolution or pooling window along one dimension (PyTorch's rule)."""
    if size is None:
        return None
    span = size + pad_b + pad_e - dilation * (k - 1) - 1
    if span < 0:
        raise ShapeError(f"window of size {dilation * (k - 1) + 1} does not fit input size {size} "
                         f"with padding [{pad_b}, {pad_e}]")
    if ceil_mode:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + pad_b:
            out -= 1
    else:
        out = span // stride + 1
    return out


def check_positive(attrs: dict, *names: str) -> None:
    for n in names:
        v = attrs.get(n)
        if v is None:
            continue
        vals = v if isinstance(v, list) else [v]
        if any(x <= 0 for x in vals):
            raise ShapeError(f"attribute '{n}' must be positive, got {v}")


def check_len(attrs: dict, n: int, *names: str) -> None:
    for name in names:
        v = attrs.get(name)
        if v is not None and len(v) != n:
            raise ShapeError(f"attribute '{name}' must have {n} entries, got {len(v)}")


def prod(dims: Iterable[int]) -> int:
    return math.prod(dims)


def static_numel(t: TensorType | None) -> int:
    """Elements of type `t` with every dynamic dim counted as 1 (0 without a type), for FLOP counts."""
    return math.prod(1 if d is None else d for d in t.shape) if t is not None else 0


def input_flops(op: Op) -> int:
    """One FLOP per element of operand 0 (pooling to a fixed size, reductions)."""
    return static_numel(op.operands[0].type)


__all__ = ["Attr", "OpDef", "OPS", "RULES", "TRAITS", "define", "lookup", "carried_dims", "ShapeError", "REQUIRED",
           "ABSENT", "DTYPES"]
