"""irc-check: not built yet."""

from ._cli import not_built

main = not_built("irc-check", "issue 4")
