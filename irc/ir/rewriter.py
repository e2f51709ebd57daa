"""The one small API every pass rewrites through: create, insert, replace, erase, replace uses."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .core import Func, Op, TensorType, Value
from .ops.registry import fill_defaults


class Rewriter:
    """Edits one function. Erasures are batched: ops are dropped from `func.ops` on `commit()`."""

    def __init__(self, func: Func):
        self.func = func
        self._erased: set[int] = set()
        self._inserts: dict[int, list[Op]] = {}  # id(anchor op) -> ops to place before it
        self.changed = False

    def create(self, name: str, operands: Sequence[Value], attrs: dict, result_types: Sequence[TensorType],
               result_names: Iterable[str], loc: object = None) -> Op:
        """A new op (not yet placed); its result names are made unique within the function."""
        op = Op(name, operands, fill_defaults(name, attrs), result_types, [""] * len(result_types), loc)
        for r, base in zip(op.results, result_names):
            r.name = self.func.unique_name(base)
        op.func = self.func
        return op

    def insert_before(self, anchor: Op, op: Op) -> Op:
        """Place `op` before `anchor`; a new op joins the block its anchor is in (`Op.scope`)."""
        if not op.scope:
            op.scope = anchor.scope
        self._inserts.setdefault(id(anchor), []).append(op)
        self.changed = True
        return op

    def replace_all_uses(self, old: Value, new: Value) -> None:
        if old is new:
            return
        for user in list(old.uses):
            for i, v in enumerate(user.operands):
                if v is old:
                    user.set_operand(i, new)
        self.changed = True

    def erase_op(self, op: Op) -> None:
        """Erase an op whose results are unused."""
        for r in op.results:
            if r.uses:
                raise ValueError(f"cannot erase {op!r}: %{r.name} still has uses")
        op.drop_operands()
        self._erased.add(id(op))
        self.changed = True

    def replace_op(self, op: Op, new_values: Iterable[Value]) -> None:
        """Make every use of op's results use new_values instead, then erase op."""
        for old, new in zip(op.results, new_values):
            self.replace_all_uses(old, new)
        self.erase_op(op)

    def set_operand(self, op: Op, i: int, value: Value) -> None:
        """Make operand `i` of `op` (the return op included) use `value`; other uses stay."""
        if op.operands[i] is not value:
            op.set_operand(i, value)
            self.changed = True

    def adopt_names(self, new: Op | Iterable[Value], old: Op | Iterable[Value]) -> None:
        """`new`'s results take `old`'s result names (ops or lists of values); `old` must be erased."""
        news = new.results if isinstance(new, Op) else list(new)
        olds = old.results if isinstance(old, Op) else list(old)
        for r, o in zip(news, olds):
            if r.name != o.name:
                self.func._names.discard(r.name)
                r.name = o.name

    def rebuild(self, op: Op, operands: Sequence[Value] | None = None, attrs: dict | None = None,
                result_types: Sequence[TensorType] | None = None, loc: object = None, name: str | None = None) -> Op:
        """A new op in place of `op` (same names, uses moved to it); unspecified parts are copied."""
        new = self.create(name or op.name, op.operands if operands is None else operands,
                          op.attrs if attrs is None else attrs,
                          [r.type for r in op.results] if result_types is None else result_types,
                          [r.name for r in op.results], op.loc if loc is None else loc)
        self.adopt_names(new, op)
        self.insert_before(op, new)
        self.replace_op(op, new.results)
        return new

    def set_signature(self, arg_types: Iterable[TensorType] | None = None,
                      result_types: Iterable[TensorType] | None = None) -> None:
        """Change the function's argument and/or result types (the caller rewrites the users)."""
        if arg_types is not None:
            for a, t in zip(self.func.args, arg_types):
                a.type = t
        if result_types is not None:
            self.func.result_types = list(result_types)
            self.func.written_ret_types = None
        self.changed = True

    def is_erased(self, op: Op) -> bool:
        return id(op) in self._erased

    def commit(self) -> bool:
        if self._erased or self._inserts:
            ops = []

            def place(op):  # what was inserted before op (also before a new op), then op unless erased
                for new in self._inserts.pop(id(op), ()):
                    place(new)
                if id(op) not in self._erased:
                    ops.append(op)

            for op in self.func.ops:
                place(op)
            for new in self._inserts.pop(id(self.func.ret), ()):
                place(new)
            self.func.ops = ops
            self._erased.clear()
        return self.changed
