"""What every command shares: `irc-CMD: error: ...` and exit 1 for user errors, no tracebacks
unless --debug, and a quiet switch for the summaries on stderr."""

from __future__ import annotations

import argparse
import sys
import traceback

from ..ir import IrcError


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is a user error like any other: one line, exit 1."""

    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(1)


def make_parser(prog: str, description: str, example: str) -> ArgumentParser:
    p = ArgumentParser(prog=prog, description=description, epilog="example:\n" + example,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--debug", action="store_true", help="show Python tracebacks for errors")
    p.add_argument("-q", "--quiet", action="store_true", help="print no summary or progress")
    return p


def run(prog: str, body, argv=None) -> int:
    """Run body(argv) → exit code, turning IrcError into `prog: error: ...` and exit 1."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        return body(argv) or 0
    except IrcError as e:
        if debug:
            traceback.print_exc()
        msg = str(e)
        first = msg.split("\n", 1)[0]
        # diagnostics already say `path:line:col: error: ...`; other errors get the command's name
        sys.stderr.write(msg + "\n" if ": error: " in first else f"{prog}: error: {msg}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted\n")
        return 130
    except BrokenPipeError:
        return 1
    except Exception as e:  # a bug in irc, not a user error: still no traceback unless asked
        if debug:
            traceback.print_exc()
        else:
            sys.stderr.write(f"{prog}: internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback)\n")
        return 1


def not_built(prog: str, issue: str):
    def main(argv=None):
        sys.stderr.write(f"{prog}: not built yet ({issue}); see README.md\n")
        return 2
    return main


def info(args, message: str) -> None:
    if not getattr(args, "quiet", False):
        sys.stderr.write(message + "\n")
