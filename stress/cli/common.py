"""What every memcg-stress command shares: the program name, the exit
codes, the one-line error and the argparse parser that reports a usage
error as that one line.

Exit codes: 0 clean, 1 violation found, 2 bad usage or configuration (one
line on stderr), 130 interrupted by SIGINT or SIGTERM.
"""
from __future__ import annotations

import argparse
import sys

from ..config import one_line

PROG = "memcg-stress"
EXIT_CLEAN, EXIT_VIOLATION, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def fail(message: object, command: str | None = None) -> int:
    """Print one error line (naming `command` when given) and return the
    usage exit code."""
    where = f"{command}: " if command else ""
    print(f"{PROG}: error: {where}{one_line(message)}", file=sys.stderr, flush=True)
    return EXIT_USAGE


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exits 2.
    `command`, when given, is named in the line (as `fail` does)."""

    def __init__(self, *args, command: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.command = command

    def error(self, message: str):
        fail(message, self.command)
        raise SystemExit(EXIT_USAGE)
