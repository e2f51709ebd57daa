"""The ncnn emitter driver: one `Emitter` walks the IR function and builds a list of ncnn layers.

Each IR op is emitted by its family's function in `EMITTERS` (`@emits("conv2d")`), called as
`fn(emitter, op)`; it asks the emitter for its operands' blobs (`emitter.blob(value)`), their batchless shapes
(`emitter.shape(value)`) and axes (`emitter.axis(value, axis)`), and adds layers with `emitter.layer(...)`.
A param or constant operand becomes a MemoryData layer only when a handler asks for it as a blob (a
convolution reads its weight directly). Activations a convolution or InnerProduct can carry are registered
in `ACTIVATIONS`; the driver names no op.

Batch handling: ncnn blobs have no batch dimension (w, h, d, c: at most four dims). The inputs must have batch 1
(a dynamic dimension 0 is emitted for batch 1); each input's blob is the input without dimension 0. Every
other value drops one dimension of size 1, its batch (`Emitter.batch_axis`): the one its input's batch became
(a transpose may move it, as PyTorch's attention does with its sequence-first layout), and an axis of the IR
value is re-numbered around it (`Emitter.axis`). A value with no dimension of size 1 (the batch grew: a concat
over the batch, a batch > 1) and an op over the batch axis (concat, softmax, reduction along it) are refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ...ir import IrcError, Module, Op, Value
from ...ir.core import uniquify
from ...ir.ops import OPS
from ...ir.table import OpTable
from ..gaps import refuse_unmapped

EMITTERS = OpTable("ncnn emitter", ir_keys=True)  # "nn.conv2d" -> fn(emitter, op)
emits = EMITTERS.register
# activations a Convolution / InnerProduct / Deconvolution can apply: "nn.relu" -> fn(op) -> (type, params)|None
ACTIVATIONS = OpTable("ncnn fused activation", ir_keys=True)
fuses = ACTIVATIONS.register

Handler = Callable[["Emitter", Op], None]
MAX_DIMS = 4  # an ncnn Mat has w, h, d, c


@dataclass
class Layer:
    """One line of the .param file and its weights in the .bin file."""

    type: str
    name: str
    bottoms: list[str]
    tops: list[str]
    params: dict = field(default_factory=dict)  # param id -> int | float | list
    # (float32 array, storage): True: a storage tag, fp16 with --weights f16; "f32": a tag, always float32;
    # False: raw float32 (what ncnn's ModelBin::load reads with type 0, type 0, type 1)
    weights: list = field(default_factory=list)


class Emitter:
    """The layers being built, the blob of every IR value, and the names already taken."""

    def __init__(self, module: Module):
        self.module = module
        self.func = module.main
        self.layers: list[Layer] = []
        self.blobs: dict[int, str] = {}  # id(Value) -> blob name
        self.constants: dict[int, np.ndarray] = {}  # id(Value) -> array, for constant ops (MemoryData on use)
        self.batch: dict[int, int | None] = {}  # id(Value) -> the size-1 dim its blob drops (see batch_axis)
        self.data: dict[tuple, str] = {}  # (id(Value), batchless shape) -> its MemoryData blob
        self.fused: set[int] = set()  # id(Op) of ops another op's layer already computes
        self.taken = {v.name for v in self.func.values()}
        self.errors: list[str] = []
        self.taken_outputs: set[str] = set()

    # -- names

    def tmp(self, base: str, what: str) -> str:
        """A helper blob's name: `<base>__<what>` (never an IR value's name)."""
        return uniquify(f"{base}__{what}", self.taken)

    def out(self, op: Op, index: int = 0) -> str:
        """The blob name of result `index` of `op`: its IR name."""
        value = op.results[index]
        self.blobs[id(value)] = value.name
        return value.name

    def alias(self, value: Value, blob: str) -> None:
        """`value` is computed by no layer of its own: it is `blob` (an identity, a fused activation)."""
        self.blobs[id(value)] = blob

    # -- shapes and axes

    def batch_axis(self, value: Value) -> int | None:
        """The size-1 dimension of `value` its blob drops: 0 for an input (the batch); for a result, that of its
        first computed operand of the same rank (a layer keeps its input's dims) when still of size 1, else the
        first dimension of size 1 (a reshape keeps the order of the elements, whichever size-1 dim is dropped);
        None when no dimension is 1 (the batch of 1 was merged into another, as attention's batch * heads): the
        blob is then the whole value."""
        if id(value) in self.batch:
            return self.batch[id(value)]
        t = value.type
        if t is None or t.rank == 0:
            raise IrcError(f"%{value.name} is a scalar: an ncnn blob has dimensions besides the batch")
        owner = value.owner
        same = [v for v in owner.operands if v.type is not None and v.type.rank == t.rank
                and not self.is_constant(v)] if owner is not None else []
        axis = self.batch_axis(same[0]) if same else None
        if not same or (axis is not None and t.shape[axis] not in (1, None)):
            ones = [i for i, d in enumerate(t.shape) if d in (1, None)]
            axis = ones[0] if ones else None
        self.batch[id(value)] = axis
        return axis

    def without(self, value: Value, axis: int | None, rank: int | None = None) -> tuple[int, ...]:
        """`value`'s shape right-aligned to `rank` dims (default its own) without dimension `axis`, which must be
        of size 1 (the batch; None: nothing dropped)."""
        t = value.type
        rank = t.rank if rank is None else rank
        shape = (1,) * (rank - t.rank) + tuple(t.shape)
        if axis is not None and shape[axis] not in (1, None):
            raise IrcError(f"%{value.name} : {t} has {shape[axis]} in its batch dimension {axis}; ncnn blobs are "
                           "batchless, so irc emits for batch 1")
        rest = shape if axis is None else shape[:axis] + shape[axis + 1:]
        if any(d is None for d in rest):
            raise IrcError(f"%{value.name} : {t} has a dynamic dimension; ncnn needs static shapes here")
        if len(rest) == 0 and rank == 1:
            return (1,)  # [1]: the batch alone (a full reduction) is a blob of one element
        if len(rest) == 0 or len(rest) > MAX_DIMS:
            raise IrcError(f"%{value.name} : {t} has rank {t.rank}: an ncnn blob holds 1 to {MAX_DIMS} dimensions "
                           "besides the batch")
        return rest

    def shape(self, value: Value) -> tuple[int, ...]:
        """The ncnn blob shape of an IR value: its shape without its batch dimension (`batch_axis`)."""
        return self.without(value, self.batch_axis(value))

    def axis(self, value: Value, axis: int, what: str = "axis") -> int:
        """IR axis `axis` of `value` as an axis of its batchless blob (refusing the batch)."""
        rank = value.type.rank
        a = axis + rank if axis < 0 else axis
        batch = self.batch_axis(value)
        if batch is None:
            return a
        if a == batch:
            raise IrcError(f"{what} {axis} is the batch dimension of %{value.name} : {value.type}, which ncnn blobs "
                           "do not have")
        return a - 1 if a > batch else a

    def channel_first(self, value: Value) -> None:
        """Refuse `value` unless its batch is dimension 0 (a convolution's blob must be C, H, W)."""
        if self.batch_axis(value) != 0:
            raise IrcError(f"%{value.name} : {value.type} is not batch-first; ncnn convolutions and pooling read "
                           "C, H, W blobs")

    def blob_without(self, value: Value, axis: int | None, rank: int) -> str:
        """The blob of `value` right-aligned to `rank` dims with dimension `axis` dropped (operands of a layer that
        must agree on the batch: binary ops, concat)."""
        return self.blob(value, self.without(value, axis, rank))

    # -- operands

    def array(self, value: Value, dtype: type = np.float32) -> np.ndarray | None:
        """The value of a param or constant operand as `dtype` (None for a computed value)."""
        owner = value.owner
        if owner is not None and owner.name == "nn.param":
            store, key = self.module.weights, owner.attrs["key"]
            arr = store.numpy(key)
            if store.type_of(key).dtype == "bf16":  # stored as the high 16 bits of a float32
                return (np.asarray(arr, np.uint32) << 16).view(np.float32).astype(dtype)
            return np.asarray(arr, dtype=dtype)
        if id(value) in self.constants:
            return np.asarray(self.constants[id(value)], dtype=dtype)
        return None

    def is_constant(self, value: Value) -> bool:
        """A param or constant (stored in the files), not computed at run time."""
        owner = value.owner
        return (owner is not None and owner.name == "nn.param") or id(value) in self.constants

    def weight(self, value: Value | None, what: str) -> np.ndarray | None:
        """A param operand a layer stores in the .bin (None when absent); refused when computed."""
        if value is None:
            return None
        arr = self.array(value)
        if arr is None:
            raise IrcError(f"the {what} %{value.name} is computed at run time; ncnn stores it in the .bin")
        return arr

    def blob(self, value: Value, shape: Sequence[int] | None = None) -> str:
        """The blob holding `value`, as the batchless `shape` when given (a Reshape, or for a param or constant a
        MemoryData layer of that shape; by default its shape without its batch dimension)."""
        arr = self.array(value)
        if arr is None:
            name = self.blobs[id(value)]
            if shape is not None and tuple(shape) != self.shape(value):
                return self.reshape(name, shape, self.tmp(value.name, "bcast"))
            return name
        if shape is None:
            shape = self.shape(value)
        key = (id(value), tuple(shape))
        if key not in self.data:
            first = not any(k[0] == id(value) for k in self.data)
            name = value.name if first else self.tmp(value.name, "data")
            self.data[key] = self.memory_data(name, np.reshape(arr, shape))
        return self.data[key]

    def memory_data(self, name: str, arr: np.ndarray) -> str:
        self.taken.add(name)
        return self.layer("MemoryData", name, [], [name], shape_params(arr.shape), [(arr, False)])

    def sole_user(self, value: Value) -> Op | None:
        """The one op reading `value` when nothing else does (not returned, not read twice), else None."""
        users = value.uses
        if len(users) != 1 or users[0] is self.func.ret or users[0].operands.count(value) != 1:
            return None
        return users[0]

    # -- building

    def layer(self, type_: str, name: str, bottoms: Sequence[str], tops: Sequence[str], params: dict | None = None,
              weights: list | None = None) -> str:
        """Add one layer; returns its first top."""
        self.taken.update(tops)
        self.layers.append(Layer(type_, name, list(bottoms), list(tops), dict(params or {}), list(weights or [])))
        return tops[0] if tops else name

    def reshape(self, bottom: str, shape: Sequence[int], top: str) -> str:
        """A Reshape layer to the batchless `shape`."""
        return self.layer("Reshape", top, [bottom], [top], shape_params(shape))

    def activation(self, op: Op) -> tuple[Op | None, int, list]:
        """(the activation op to fuse into `op`'s layer, ncnn activation_type, activation_params), or (None, 0, [])
        when `op`'s result goes elsewhere too or to no activation ncnn can fuse."""
        user = self.sole_user(op.results[0])
        if user is None or user.name not in ACTIVATIONS or op.results[0] in self.func.outputs:
            return None, 0, []
        fused = ACTIVATIONS[user.name](user)
        if fused is None:
            return None, 0, []
        self.fused.add(id(user))
        return user, fused[0], list(fused[1])

    # -- the whole function

    def build(self) -> list[Layer]:
        refuse_unmapped(self.module, EMITTERS, "ncnn")
        for a in self.func.args:
            if a.type is None or a.type.rank == 0 or a.type.shape[0] not in (1, None):
                raise IrcError(f"cannot emit {self.module.name} as ncnn: input %{a.name} : {a.type} has batch "
                               f"{a.type.shape[0] if a.type else '?'}; ncnn blobs are batchless, so irc emits for "
                               "batch 1 (import with batch 1)")
            self.batch[id(a)] = 0
            shape = self.shape(a)
            self.blobs[id(a)] = a.name
            self.layer("Input", a.name, [], [a.name], shape_params(shape))
        for op in self.func.ops:
            if op.name == "nn.param" or id(op) in self.fused:
                continue
            try:
                EMITTERS[op.name](self, op)
                for r in op.results:
                    if id(r) in self.blobs:
                        self.batch_axis(r)
            except IrcError as e:
                where = f"%{op.results[0].name}" if op.results else op.name
                self.errors.append(f"  {where} = {op.name}{_line(op)}: {e}")
                for r in op.results:
                    self.blobs.setdefault(id(r), r.name)
        if self.errors:
            raise IrcError(f"cannot emit {self.module.name} as ncnn: {len(self.errors)} op(s) cannot be written; "
                           "nothing was written\n" + "\n".join(self.errors))
        for v in self.func.outputs:
            self._output(v)
        insert_splits(self.layers, self.taken)
        return self.layers

    def _output(self, value: Value) -> None:
        """Every output is a blob named after it: one computed by no layer of its own (an identity, an input, a
        constant) gets a Noop layer, which passes its bottom through."""
        blob = self.blob(value)
        if blob != value.name and value.name not in self.taken_outputs:
            self.layer("Noop", value.name, [blob], [value.name])
        self.taken_outputs.add(value.name)
        self.blobs[id(value)] = value.name

    def output_blobs(self) -> list[str]:
        return [v.name for v in self.func.outputs]


def shape_params(shape: Sequence[int]) -> dict:
    """Input/Reshape/MemoryData params for a batchless shape: w (0), h (1), d (11), c (2), innermost first."""
    return dict(zip((0, 1, 11, 2) if len(shape) == 4 else (0, 1, 2), reversed(list(shape)), strict=False))


def _line(op: Op) -> str:
    return f" (line {op.pos[0]})" if op.pos else ""


def insert_splits(layers: list[Layer], taken: set) -> None:
    """ncnn wants one consumer per blob: a blob read by several layers gets a Split layer after its producer,
    each reader one of its tops (`<blob>_splitncnn_<i>`)."""
    readers: dict[str, list] = {}
    for li, layer in enumerate(layers):
        for bi, b in enumerate(layer.bottoms):
            readers.setdefault(b, []).append((li, bi))
    producer = {top: li for li, layer in enumerate(layers) for top in layer.tops}
    after: dict[int, list] = {}
    for blob, slots in readers.items():
        if len(slots) < 2:
            continue
        tops = [uniquify(f"{blob}_splitncnn_{i}", taken) for i in range(len(slots))]
        taken.update(tops)
        for (li, bi), top in zip(slots, tops, strict=True):
            layers[li].bottoms[bi] = top
        after.setdefault(producer[blob], []).append(Layer("Split", uniquify(f"splitncnn_{blob}", taken), [blob], tops))
    for li in sorted(after, reverse=True):
        layers[li + 1:li + 1] = after[li]


def unmapped_ops() -> list[str]:
    """Registry ops the ncnn emitter cannot write (for the gap test and the docs)."""
    return sorted(n for n in OPS if n not in EMITTERS and n != "nn.param" and not OPS[n].has("inlined"))
