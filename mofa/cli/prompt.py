"""The yes/no prompt of `delete` and `prune`."""

from __future__ import annotations

import sys

import click


def confirmed(prompt: str) -> bool:
    """True only for `y` or `yes`; end of input, or anything else, is a no."""
    click.echo(prompt, nl=False, err=True)
    try:
        answer = sys.stdin.readline()
    except (OSError, ValueError):
        answer = ""
    if not answer.endswith("\n"):
        click.echo(err=True)
    return answer.strip().lower() in ("y", "yes")
