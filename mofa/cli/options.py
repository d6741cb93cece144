"""Options shared by several commands, as decorators."""

from __future__ import annotations

import click

FORMATS = ("table", "json", "yaml", "markdown")


def show_format_option(function):
    return click.option(
        "-f", "--format", "-o", "--output-format", "fmt",
        type=click.Choice(FORMATS), default="table", show_default=True,
        help="Output format (-o and --output-format are accepted too).",
    )(function)


def output_format_option(*choices: str):
    def decorate(function):
        return click.option(
            "-f", "--output-format", "fmt", type=click.Choice(choices), default=choices[0],
            show_default=True, help="Output format.",
        )(function)

    return decorate
