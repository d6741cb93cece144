"""What a person at a terminal gets, as git gives it: long output through a pager, and times
in the time zone they ask for. Nothing here applies when stdout is not a terminal."""

from __future__ import annotations

import os
import signal
import sys
from typing import TYPE_CHECKING

import click

from mofa.cli import console

if TYPE_CHECKING:
    from datetime import tzinfo

DEFAULT_PAGER = "less -FRX"


def pager_command() -> str | None:
    """MOFA_PAGER, else PAGER, else `less -FRX`; None when one of them is empty or `cat`."""
    for name in ("MOFA_PAGER", "PAGER"):
        value = os.environ.get(name)
        if value is not None:
            value = value.strip()
            return None if value in ("", "cat") else value
    return DEFAULT_PAGER


def _terminal_size(variable: str, attribute: str, default: int) -> int:
    """The variable (COLUMNS, LINES), else the terminal's size, else `default` (as shutil's,
    without importing shutil)."""
    try:
        value = int(os.environ.get(variable, "0"))
    except ValueError:
        value = 0
    if value > 0:
        return value
    try:
        if sys.__stdout__ is None:
            return default
        return getattr(os.get_terminal_size(sys.__stdout__.fileno()), attribute) or default
    except (AttributeError, ValueError, OSError):
        return default


def terminal_columns() -> int:
    """COLUMNS, else the terminal's width, else 80."""
    return _terminal_size("COLUMNS", "columns", 80)


def terminal_lines() -> int:
    """LINES, else the terminal's height, else 24."""
    return _terminal_size("LINES", "lines", 24)


def page(text: str, enabled: bool = True, long_only: bool = False) -> None:
    """Write `text` and a newline to stdout: through the pager when stdout is a terminal and
    `enabled` (not `--no-pager`); with `long_only`, only when it does not fit the screen."""
    if not enabled or not sys.stdout.isatty():
        console.result(text)
        return
    command = pager_command()
    if command is None or (long_only and text.count("\n") + 1 < terminal_lines()):
        console.result(text)
        return
    import subprocess

    sys.stdout.flush()
    environment = dict(os.environ)
    environment.setdefault("LESS", "FRX")  # as git: quit if one screen, keep colours and screen
    environment.setdefault("LV", "-c")
    try:
        pager = subprocess.Popen(command, shell=True, stdin=subprocess.PIPE, env=environment)
    except OSError:
        console.result(text)
        return
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    # The pager owns Ctrl-C while it runs (less uses it to stop a search); quitting it ends us.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        try:
            with pager.stdin as pipe:  # type: ignore[union-attr]
                pipe.write((text + "\n").encode(encoding, "backslashreplace"))
        except (BrokenPipeError, OSError):
            pass  # the user quit the pager before reading everything
        pager.wait()
    finally:
        signal.signal(signal.SIGINT, previous)


def parse_timezone(name: str | None) -> tzinfo | None:
    """`--timezone` / MOFA_TIMEZONE: an IANA name, `local`, or `UTC`; None for the default
    (UTC). Raises click.BadParameter for a name the system does not know."""
    if name is None or name.strip() == "":
        return None
    if name == "local":
        from datetime import datetime

        return datetime.now().astimezone().tzinfo
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise click.BadParameter(
            f"unknown time zone {name!r}: give an IANA name such as Europe/Paris, or local",
            param_hint="'--timezone'",
        ) from None
