"""irc-import: not built yet."""

from ._cli import not_built

main = not_built("irc-import", "issue 3")
