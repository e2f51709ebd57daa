"""What every command shares: `irc-CMD: error: ...` and exit 1 for user errors, no tracebacks
unless --debug, and a quiet switch for the summaries on stderr."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable

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


def run(prog: str, body: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Run body(argv) → exit code, turning IrcError into `prog: error: ...` and exit 1. Run as a command (no
    `argv` given), the process ends right there once stdout and stderr are flushed (every output file is
    renamed into place by then), without paying torch's teardown of the interpreter (about a second)."""
    code = _run(prog, body, argv)
    if argv is None:
        _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 1  # stdout closed early (a broken pipe): exit 1 like an error
    os._exit(code)


def _run(prog: str, body: Callable[[list[str] | None], int | None], argv: list[str] | None) -> int:
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
            sys.stderr.write(f"{prog}: internal error: {type(e).__name__}: {e} "
                             "(rerun with --debug for the traceback)\n")
        return 1


def info(args, message: str) -> None:
    if not getattr(args, "quiet", False):
        sys.stderr.write(message + "\n")


class Progress:
    """One updating line on a terminal (the step and the seconds so far, refreshed twice a second);
    nothing when stderr is not a terminal or with --quiet."""

    def __init__(self, prog: str, args: argparse.Namespace):
        self.prog = prog
        self.enabled = sys.stderr.isatty() and not getattr(args, "quiet", False)
        self.start = time.monotonic()
        self.width = 0
        self.msg = None
        self.lock = threading.Lock()
        self.stop = threading.Event()
        if self.enabled:
            threading.Thread(target=self._tick, daemon=True).start()

    def _tick(self):
        while not self.stop.wait(0.5):
            self._draw()

    def _draw(self):
        with self.lock:
            if self.msg is None or self.stop.is_set():
                return
            line = f"{self.prog}: {self.msg} ... ({time.monotonic() - self.start:.0f}s)"
            sys.stderr.write("\r" + line.ljust(self.width))
            sys.stderr.flush()
            self.width = len(line)

    def __call__(self, msg: str) -> None:
        if self.enabled:
            self.msg = msg
            self._draw()

    def done(self) -> None:
        """The command is over: stop refreshing and clear the line."""
        self.stop.set()
        self.clear()

    def clear(self) -> None:
        """Clear the line (before a warning, say); it is drawn again at the next step."""
        if not self.enabled:
            return
        with self.lock:
            self.msg = None
            if self.width:
                sys.stderr.write("\r" + " " * self.width + "\r")
                sys.stderr.flush()
                self.width = 0
