"""Op-keyed tables: how every phase maps ops (a frontend's source ops to IR, an IR op to a target).

`table = OpTable("torch expression", ir_keys=True)` then `@table.register("conv2d")` on a function.
A key registered twice is a bug in irc and fails at import. With `ir_keys`, short names are taken as
`nn.` ops. The op reference (`docs/ops.md`) reads these tables to show which phase covers which op.
"""

from __future__ import annotations

from collections.abc import Callable


class OpTable(dict):
    """A dict from op key to handler, filled by a decorator, that refuses duplicates."""

    def __init__(self, what: str, ir_keys: bool = False):
        super().__init__()
        self.what = what
        self.ir_keys = ir_keys

    def key(self, name: object) -> object:
        if self.ir_keys and isinstance(name, str) and "." not in name:
            return "nn." + name
        return name

    def register(self, *names) -> Callable:
        def deco(fn):
            for name in names:
                key = self.key(name)
                if key in self:
                    raise ValueError(f"{self.what} for {key} defined twice")
                self[key] = fn
            return fn
        return deco

    def lookup(self, name: object) -> Callable | None:
        return self.get(self.key(name))
