"""Options shared by several commands, as decorators."""

from __future__ import annotations

import click

FORMATS = ("table", "json", "yaml", "markdown")
_GLOBAL_FORMAT = "mofa.output_format"  # ctx.meta key: `mofa --output-format FMT session ...`


def _formats(choices) -> click.Choice:
    # `text` is MoFA's name for the table.
    return click.Choice(tuple(choices) + (("text",) if "table" in choices else ()))


def _chosen(choices):
    """The option's value, else MoFA's global `--output-format`, else the first choice."""

    def callback(ctx: click.Context, param: click.Parameter, value):
        if value is None:
            value = ctx.meta.get(_GLOBAL_FORMAT)
            if value is None:
                return choices[0]
            if value not in choices and value != "text":
                raise click.UsageError(
                    f"mofa --output-format {value}: not a format of this command"
                    f" (one of: {', '.join(choices)})",
                    ctx,
                )
        return "table" if value == "text" else value

    return callback


def global_output_format_option(function):
    """`mofa --output-format FMT session list`: MoFA's global spelling of a command's format."""

    def remember(ctx: click.Context, param: click.Parameter, value):
        if value is not None:
            ctx.meta[_GLOBAL_FORMAT] = value
        return value

    return click.option(
        "--output-format",
        type=_formats(FORMATS),
        default=None,
        expose_value=False,
        is_eager=True,
        callback=remember,
        help="Output format of `session list` and `session show` (MoFA's global option).",
    )(function)


def show_format_option(function):
    return click.option(
        "-f",
        "--format",
        "-o",
        "--output-format",
        "fmt",
        type=_formats(FORMATS),
        default=None,
        callback=_chosen(FORMATS),
        help="Output format [default: table]"
        " (-o and --output-format are accepted too; text is table).",
    )(function)


def output_format_option(*choices: str, mofa_spellings: bool = False):
    """`-f/--output-format`; with `mofa_spellings` also MoFA's `-o` and `--output` (list)."""
    names = (
        ("-f", "--output-format", "-o", "--output") if mofa_spellings else ("-f", "--output-format")
    )

    def decorate(function):
        return click.option(
            *names,
            "fmt",
            type=_formats(choices),
            default=None,
            callback=_chosen(choices),
            help=f"Output format [default: {choices[0]}]"
            + (" (-o and --output are accepted too; text is table)." if mofa_spellings else "."),
        )(function)

    return decorate


def complete_session_ids(ctx: click.Context, param: click.Parameter, incomplete: str):
    """Shell completion of a session id (the module is imported only when completing)."""
    from mofa.cli.completion import indexed_session_ids, session_id_completion

    return session_id_completion(indexed_session_ids)(ctx, param, incomplete)


def complete_agents(ctx: click.Context, param: click.Parameter, incomplete: str):
    from mofa.cli.completion import agent_completion, indexed_agents

    return agent_completion(indexed_agents)(ctx, param, incomplete)


def pager_option(function):
    """`--no-pager` for commands whose table or transcript goes through the pager."""
    return click.option(
        "--no-pager",
        is_flag=True,
        help="Write straight to the terminal, never through the pager (also: MOFA_PAGER=cat).",
    )(function)
