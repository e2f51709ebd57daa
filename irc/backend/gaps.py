"""What a backend cannot write, said once for every backend: `refuse_unmapped` lists every op kind its table
lacks, each with the values it computes and their lines in the .ir file, before anything is written."""

from __future__ import annotations

from ..ir import IrcError, Module

LISTED = 8  # places listed per op kind


def refuse_unmapped(module: Module, emitters: object, target: str) -> None:
    """An IrcError when `emitters` (a backend's op-keyed table) lacks an op kind `module` uses:
    `cannot emit M as TARGET: N op kind(s) have no TARGET mapping; nothing was written`, then one line per kind,
    `  nn.KIND xN: at %value (line L), ...`."""
    func = module.main
    missing = sorted({op.name for op in func.ops if op.name not in emitters and op.name != "nn.param"})
    if not missing:
        return
    lines = [f"cannot emit {module.name} as {target}: {len(missing)} op kind(s) have no {target} mapping; "
             "nothing was written"]
    for kind in missing:
        ops = [op for op in func.ops if op.name == kind]
        where = [("%" + op.results[0].name if op.results else "?") + (f" (line {op.pos[0]})" if op.pos else "")
                 for op in ops]
        lines.append(f"  {kind} x{len(ops)}: at {', '.join(where[:LISTED])}" + (" ..." if len(where) > LISTED else ""))
    raise IrcError("\n".join(lines))
