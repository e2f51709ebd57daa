"""Shape arithmetic folded at import time: shape vectors (`Shp`) and affine index tensors (`Affine`).

A Reshape whose target came from `x.size(0)` reads a shape vector whose entry is a `Sym` (dim 0 of x);
the ops exporters write between Shape and Reshape (Gather, Slice, Concat, Unsqueeze, arithmetic, ...)
are evaluated here on object arrays. The default exporter's as_strided on a dynamic batch writes index
arithmetic over `Range(0, N)`; it is followed as an `Affine` tensor until a Gather shows it to be the
identity.
"""

from __future__ import annotations

import numpy as np

from ...ir import Value
from ..core import Unsupported
from .tables import SHAPE_IMPORTERS, imports, imports_affine, imports_shape
from .values import Affine, Const, Opaque, Shp, Sym, own_sym, shp_or_const

# ----------------------------------------------------------------------------- shape vectors


def _sym_array(x) -> np.ndarray:
    if isinstance(x, Shp):
        return x.array
    if isinstance(x, Const):
        return np.asarray(x.array).astype(object)
    raise Unsupported("shape arithmetic on a value computed at run time")


@imports("Shape")
def _shape(importer, node):
    x = importer.inp(0)
    if isinstance(x, (Const, Shp)):
        arr = np.asarray(x.array.shape, dtype=np.int64)
        return Const(arr)
    dims = importer.dims.get(node.input[0]) or [None] * x.type.rank
    out = [d if d is not None else own_sym(x, i, dims) for i, d in enumerate(x.type.shape)]
    start, end = importer.attr("start", 0), importer.attr("end", None)
    out = out[start:end] if end is not None else out[start:]
    return shp_or_const(np.asarray(out + [0], dtype=object)[:-1])


@imports("Size")
def _size(importer, node):
    x = importer.val(0)
    if not x.type.is_static:
        raise Unsupported("Size of a tensor with dynamic dims")
    return Const(np.asarray(x.type.numel(), dtype=np.int64))


@imports_shape("Gather")
def _shape_gather(importer, node, ins):
    data = _sym_array(ins[0])
    idx = importer.const(1, "indices")
    return shp_or_const(np.take(data, idx.astype(np.int64), axis=importer.attr("axis", 0)))


@imports_shape("Slice")
def _shape_slice(importer, node, ins):
    data = _sym_array(ins[0])
    if data.ndim != 1:
        raise Unsupported("slicing a multi-dimensional shape tensor")
    starts, ends = importer.ints(1), importer.ints(2)
    steps = importer.ints(4) or [1]
    return shp_or_const(data[starts[0]:ends[0]:steps[0]])


@imports_shape("Concat")
def _shape_concat(importer, node, ins):
    return shp_or_const(np.concatenate([_sym_array(x) for x in ins], axis=importer.attr("axis", 0)))


def _axes(importer, ins):
    """Unsqueeze/Squeeze axes: input 1 (opset 13) or the attribute."""
    return importer.ints(1) if len(ins) > 1 and ins[1] is not None else importer.attr("axes")


@imports_shape("Unsqueeze")
def _shape_unsqueeze(importer, node, ins):
    data = _sym_array(ins[0])
    axes = _axes(importer, ins)
    out = data
    for a in sorted(a % (data.ndim + len(axes)) for a in axes):
        out = np.expand_dims(out, a)
    return shp_or_const(out)


@imports_shape("Squeeze")
def _shape_squeeze(importer, node, ins):
    data = _sym_array(ins[0])
    axes = _axes(importer, ins)
    return shp_or_const(np.squeeze(data, axis=tuple(axes)) if axes else np.squeeze(data))


@imports_shape("Reshape")
def _shape_reshape(importer, node, ins):
    if isinstance(ins[1], Shp):
        raise Unsupported("reshaping a shape tensor to a dynamic shape")
    return shp_or_const(_sym_array(ins[0]).reshape([int(d) for d in ins[1].array]))


@imports_shape("Cast", "Identity")
def _shape_identity(importer, node, ins):
    return ins[0]


def _shape_arith(fn):
    def arith(importer, node, ins):
        a, b = _sym_array(ins[0]), _sym_array(ins[1])
        return shp_or_const(np.vectorize(fn, otypes=[object])(a, b))
    return arith


def _sym_equal(left, right):
    if not isinstance(left, Sym) and not isinstance(right, Sym):
        return left == right
    if isinstance(left, Sym) and isinstance(right, Sym):
        if left.same(right):
            return True
        return Opaque()
    n = right if isinstance(left, Sym) else left
    if n < 0:  # a dimension is never negative: the exporters' "== -1" tests are false
        return False
    return Opaque()


@imports_shape("Equal")
def _shape_equal(importer, node, ins):
    out = np.vectorize(_sym_equal, otypes=[object])(_sym_array(ins[0]), _sym_array(ins[1]))
    if any(isinstance(v, Sym) for v in out.ravel()):
        raise Unsupported("comparing dynamic dimensions whose values are known only at run time")
    return Const(out.astype(bool))


@imports_shape("Where")
def _shape_where(importer, node, ins):
    if not isinstance(ins[0], Const):
        raise Unsupported("Where on a shape with a condition known only at run time")
    cond = ins[0].array.astype(bool)
    a, b = _sym_array(ins[1]), _sym_array(ins[2])
    return shp_or_const(np.where(cond, a, b))


def _floor_div(num, den):
    return num // den if not isinstance(num, Sym) and not isinstance(den, Sym) else Opaque()


for _op_type, _fn in {"Add": lambda a, b: a + b, "Sub": lambda a, b: a - b, "Mul": lambda a, b: a * b,
                      "Div": _floor_div}.items():
    SHAPE_IMPORTERS.register(_op_type)(_shape_arith(_fn))


# ----------------------------------------------------------------------------- affine index tensors


def _as_affine(x) -> Affine:
    """An Affine for an Affine or a constant int array that is one (else Unsupported)."""
    if isinstance(x, Affine):
        return x
    if not isinstance(x, Const) or x.array.dtype.kind not in "iu":
        raise Unsupported("index arithmetic mixing a dynamic range with run-time values")
    a = x.array.astype(np.int64)
    origin = (0,) * a.ndim
    off = int(a[origin]) if a.ndim else int(a)
    coefs = []
    for j in range(a.ndim):
        step = (0,) * j + (1,) + (0,) * (a.ndim - j - 1)
        coefs.append(int(a[step]) - off if a.shape[j] > 1 else 0)
    grid = np.indices(a.shape) if a.ndim else np.zeros((0,))
    expect = off + sum(c * grid[j] for j, c in enumerate(coefs)) if a.ndim else off
    if not np.array_equal(a, expect):
        raise Unsupported("index arithmetic with a constant that is not an affine index")
    return Affine(a.shape, off, coefs)


def _affine_add(left: Affine, right: Affine, sign: int = 1) -> Affine:
    rank = max(len(left.shape), len(right.shape))
    ps = [1] * (rank - len(left.shape)) + left.shape
    qs = [1] * (rank - len(right.shape)) + right.shape
    pc = [0] * (rank - len(left.coefs)) + left.coefs
    qc = [0] * (rank - len(right.coefs)) + right.coefs
    shape = []
    for a, b in zip(ps, qs, strict=True):
        if isinstance(a, int) and a == 1:
            shape.append(b)
        elif isinstance(b, int) and b == 1 or a is b or (isinstance(a, int) and a == b):
            shape.append(a)
        else:
            raise Unsupported("index arithmetic over dims that do not broadcast statically")
    return Affine(shape, left.offset + sign * right.offset, [c + sign * d for c, d in zip(pc, qc, strict=True)])


@imports_shape("Range")
def _range_dynamic(importer, node, ins):
    start, limit, step = ins
    if not (isinstance(start, Const) and isinstance(step, Const)) or isinstance(limit, Const):
        raise Unsupported("Range with a dynamic start or step")
    n = limit.array.ravel()
    if n.size != 1 or int(start.array) != 0 or int(step.array) != 1:
        raise Unsupported("Range over a dynamic dimension other than Range(0, N, 1)")
    return Affine([n[0]], 0, [1])


@imports_affine("Add", "Sub")
def _affine_addsub(importer, node, ins):
    return _affine_add(_as_affine(ins[0]), _as_affine(ins[1]), -1 if node.op_type == "Sub" else 1)


@imports_affine("Mul")
def _affine_mul(importer, node, ins):
    a, k = (ins[0], ins[1]) if isinstance(ins[0], Affine) else (ins[1], ins[0])
    if not isinstance(k, Const) or k.array.size != 1 or k.array.dtype.kind not in "iu":
        raise Unsupported("index arithmetic scaled by a non-constant")
    k = int(k.array.ravel()[0])
    return Affine(a.shape, a.offset * k, [c * k for c in a.coefs])


@imports_affine("Unsqueeze")
def _affine_unsqueeze(importer, node, ins):
    a = ins[0]
    axes = importer.ints(1, "axes") if len(ins) > 1 and ins[1] is not None else importer.attr("axes")
    rank = len(a.shape) + len(axes)
    shape, coefs = list(a.shape), list(a.coefs)
    for ax in sorted(x % rank for x in axes):
        shape.insert(ax, 1)
        coefs.insert(ax, 0)
    return Affine(shape, a.offset, coefs)


@imports_affine("Cast", "Identity")
def _affine_identity(importer, node, ins):
    return ins[0]


@imports_affine("Gather")
def _affine_gather(importer, node, ins):
    """Gather(Reshape(x, [-1]), idx) with idx the contiguous index of x itself: x (as_strided that is a no-op)."""
    data, idx = ins
    if not isinstance(data, Value) or not isinstance(idx, Affine) or importer.attr("axis", 0) != 0:
        raise Unsupported("Gather at a dynamic range of indices")
    flat = data.owner
    if flat is None or flat.name != "nn.reshape" or flat.attrs["shape"] != [-1]:
        raise Unsupported("Gather at a dynamic range of indices of a tensor that is not a flattened view")
    x = flat.operands[0]
    if len(idx.shape) != len(x.type.shape) or idx.offset != 0:
        raise Unsupported("as_strided to another shape or offset")
    _check_contiguous(x, idx, importer.dims.get(importer.onnx_names.get(id(x), ""), []))
    return x


def _check_contiguous(x, idx: Affine, dims) -> None:
    """Unsupported unless `idx` indexes every element of `x` in order (its own dims, contiguous strides)."""
    xs = x.type.shape
    stride = 1
    for j in reversed(range(len(xs))):
        d, want = xs[j], idx.shape[j]
        if isinstance(want, Sym):
            if d is not None or not want.same(own_sym(x, j, dims)):
                raise Unsupported("as_strided over a dynamic dim that is not the tensor's own")
        elif want != d:
            raise Unsupported("as_strided to another shape")
        if d != 1 and idx.coefs[j] != stride:
            raise Unsupported("as_strided with non-contiguous strides")
        if j > 0:
            if d is None:
                raise Unsupported("as_strided over a tensor with a dynamic inner dim")
            stride *= d
