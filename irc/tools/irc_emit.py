"""irc-emit: not built yet."""

from ._cli import not_built

main = not_built("irc-emit", "issue 4")
