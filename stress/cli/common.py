"""What every memcg-stress command shares: the program name, the exit
codes, the one-line error and the argparse parser that reports a usage
error as that one line.

Exit codes: 0 clean, 1 violation found, 2 bad usage or configuration (one
line on stderr), 130 interrupted by SIGINT or SIGTERM.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

from ..config import ConfigError, one_line

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
    `command`, when given, is named in the line (as `fail` does).  Options
    are never abbreviated (`--dur` is not `--duration`)."""

    def __init__(self, *args, command: str | None = None, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self.command = command

    def error(self, message: str):
        fail(message, self.command)
        raise SystemExit(EXIT_USAGE)


#: the --json help every command shares
JSON_HELP = "write the result as one JSON document to PATH; - prints it on standard output " \
            "(the rest of the output then goes to standard error) (default: none)"


def check_output_file(path: str | None, option: str = "json") -> None:
    """A file the command will write at the end (`-`: standard output),
    checked before any work starts: ConfigError (one line) when it is a
    folder, its folder is missing, or it cannot be written."""
    if path is None or path == "-":
        return
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{option}: {path!r} is a folder; give a file name, or - for standard output")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(f"{option}: cannot write {path!r}: no folder {str(parent)!r}")
    existed = p.exists()
    try:
        with open(p, "a"):
            pass
    except OSError as e:
        raise ConfigError(f"{option}: cannot write {path!r}: {e.strerror or one_line(e)}") from None
    if not existed:
        with contextlib.suppress(OSError):
            p.unlink()


class JsonOutput:
    """`--json PATH` of a command.  With `-`, everything the command prints
    goes to standard error while it runs and `write` prints the one JSON
    document on standard output; with a file, `write` replaces it whole."""

    def __init__(self, path: str | None):
        self.path = path
        self._stdout = None
        self._redirect = None

    @property
    def to_stdout(self) -> bool:
        return self.path == "-"

    def __enter__(self) -> "JsonOutput":
        if self.to_stdout:
            self._stdout = sys.stdout
            self._redirect = contextlib.redirect_stdout(sys.stderr)
            self._redirect.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._redirect is not None:
            self._redirect.__exit__(*exc)
            self._redirect = None

    def write(self, data: dict) -> None:
        if self.path is None:
            return
        text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
        if self.to_stdout:
            self._stdout.write(text)
            self._stdout.flush()
            return
        tmp = Path(self.path).with_name(f".{Path(self.path).name}.tmp.{os.getpid()}")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, self.path)
        print(f"{PROG}: wrote {self.path}", flush=True)
