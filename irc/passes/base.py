"""What a pass is: a small class with a name, one line of help, options as fields, and apply()."""

from __future__ import annotations

import dataclasses

from ..ir import IrcError, Module


class PassError(IrcError):
    pass


@dataclasses.dataclass
class Pass:
    name = ""
    summary = ""  # one line for --list-passes
    needs_valid_input = True  # False for passes that repair types (infer-shapes), so they run before verifying

    def apply(self, module: Module) -> bool:
        """Rewrite `module` in place; return whether anything changed."""
        raise NotImplementedError

    @classmethod
    def options(cls) -> list[dataclasses.Field]:
        return list(dataclasses.fields(cls))

    @classmethod
    def with_options(cls, raw: dict[str, str]) -> Pass:
        fields = {f.name.replace("_", "-"): f for f in cls.options()}
        kwargs = {}
        for key, text in raw.items():
            f = fields.get(key)
            if f is None:
                known = ", ".join(sorted(fields)) or "none"
                raise PassError(f"pass '{cls.name}' has no option '{key}' (options: {known})")
            kwargs[f.name] = _coerce(cls.name, key, text, f.type)
        return cls(**kwargs)


def _coerce(pname, key, text, ftype):
    ftype = ftype if isinstance(ftype, str) else getattr(ftype, "__name__", str(ftype))
    try:
        if ftype == "bool":
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        if ftype == "int":
            return int(text)
        if ftype == "float":
            return float(text)
        return text
    except ValueError:
        raise PassError(f"option '{key}' of pass '{pname}' must be a {ftype}, got '{text}'") from None
