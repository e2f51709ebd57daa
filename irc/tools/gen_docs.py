"""python -m irc.tools.gen_docs [--check] [PATH]: write docs/ops.md from the op registry and the op tables."""

from __future__ import annotations

import os
import sys

from ..coverage import render_docs
from ..ir.writer import write_files
from ._cli import make_parser, run

DEFAULT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "docs", "ops.md")


def main(argv: list[str] | None = None) -> int:
    return run("irc-gen-docs", _main, argv)


def _main(argv):
    p = make_parser("irc-gen-docs", "Generate the op reference from the registry.", "  python -m irc.tools.gen_docs")
    p.add_argument("path", nargs="?", default=DEFAULT)
    p.add_argument("--check", action="store_true", help="exit 1 if the file is stale instead of writing it")
    args = p.parse_args(argv)
    text = render_docs()
    if args.check:
        current = ""
        if os.path.exists(args.path):
            with open(args.path, encoding="utf-8") as f:
                current = f.read()
        if current != text:
            sys.stderr.write(f"{args.path} is stale: run python -m irc.tools.gen_docs\n")
            return 1
        return 0
    write_files([(args.path, lambda f: f.write(text.encode("utf-8")))])
    return 0


if __name__ == "__main__":
    sys.exit(main())
