"""Writing to the terminal: results to stdout; progress, warnings and errors to stderr.

Colour (`mofa --color auto|always|never`): `auto` colours a terminal only (click strips
colour from anything else) and never with NO_COLOR; `always` colours wherever the output goes.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

COLOR_MODES = ("auto", "always", "never")
_color_mode = "auto"


def json_plain(text) -> bool:
    """True when JSON writes `text` as it is between quotes (no escape, valid UTF-8)."""
    return type(text) is str and text.isprintable() and '"' not in text and "\\" not in text


def set_color_mode(mode: str) -> None:
    """One of COLOR_MODES, from `mofa --color`."""
    global _color_mode
    _color_mode = mode


def _color() -> bool | None:
    """click.echo's `color`: True to keep colour, False to strip it, None to let click decide
    from the stream (a terminal keeps it)."""
    if _color_mode == "always":
        return True
    if _color_mode == "never" or os.environ.get("NO_COLOR"):
        return False
    return None


def colors(stream=None) -> bool:
    """Whether text written to `stream` (stdout by default) is to carry colour."""
    decided = _color()
    if decided is not None:
        return decided
    stream = sys.stdout if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def result(text: str) -> None:
    click.echo(text, color=_color())


def document_writer(binary: bool = False):
    """A function writing JSON, YAML or CSV text to stdout as UTF-8 bytes whatever the locale's
    encoding, so that a program reading it gets every character (text meant for the terminal
    escapes instead what the locale cannot show); with `binary`, a function writing UTF-8
    bytes as they are. Flush sys.stdout when done."""
    out = sys.stdout
    buffer = getattr(out, "buffer", None)
    if buffer is None:
        if binary:
            return lambda data: out.write(data.decode("utf-8"))
        return out.write
    out.flush()
    if binary:
        return buffer.write
    return lambda text: buffer.write(text.encode("utf-8", "backslashreplace"))


def document(text: str) -> None:
    """A whole JSON or YAML document to stdout, as UTF-8."""
    document_writer()(text)
    sys.stdout.flush()


def status(text: str) -> None:
    """A progress line of the reference page (`→ ...`, `  Format: json`)."""
    if text.startswith("→"):
        text = click.style("→", fg="cyan") + text[1:]
    click.echo(text, err=True, color=_color())


def success(text: str) -> None:
    stripped = text.lstrip(" ")
    indent = text[: len(text) - len(stripped)]
    click.echo(indent + click.style("✓", fg="green") + stripped[1:], err=True, color=_color())


def warning(text: str) -> None:
    from mofa.render import printable

    click.echo(
        click.style("warning:", fg="yellow") + " " + printable(text), err=True, color=_color()
    )


def notice(text: str) -> None:
    from mofa.render import printable

    click.echo("mofa: " + printable(text), err=True, color=_color())


def error_line(text: str) -> None:
    from mofa.render import printable

    click.echo(click.style("Error:", fg="red") + " " + printable(text), err=True, color=_color())


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def progress_reporter(label: str):
    """A progress callback drawing a bar on stderr when it is a terminal, else None."""
    if not stderr_is_terminal():
        return None
    state: dict[str, Any] = {}

    def report(done: int, total: int) -> None:
        if total < 500:
            return
        bar = state.get("bar")
        if bar is None:
            bar = state["bar"] = click.progressbar(
                length=total, label=label, file=sys.stderr, color=_color()
            )
            bar.__enter__()
        bar.update(done - bar.pos)
        if done >= total:
            bar.__exit__(None, None, None)
            state.clear()

    return report
