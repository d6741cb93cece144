"""The yes/no prompt of `delete` and `prune`."""

from __future__ import annotations

import sys

import click


def confirmed(prompt: str, answers=None) -> bool:
    """True only for `y` or `yes` read from `answers` (standard input by default); the end of
    input, a closed or missing stream, or anything else is a no."""
    click.echo(prompt, nl=False, err=True)
    stream = sys.stdin if answers is None else answers
    try:
        answer = stream.readline() if stream is not None else ""
    except (OSError, ValueError):  # closed or unreadable: the end of input
        answer = ""
    if not answer.endswith("\n"):
        click.echo(err=True)
    return answer.strip().lower() in ("y", "yes")
