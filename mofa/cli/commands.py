"""`mofa` and its `session` group. Each subcommand lives in the module of its output and is
imported only when it runs (click's lazy subcommands): `list` does not pay for defining
`export`'s options, nor `show` for `list`'s."""

from __future__ import annotations

import os

import click

from mofa import __version__
from mofa.cli import console
from mofa.cli.app import App
from mofa.cli.errors import MofaGroup
from mofa.cli.lazy import LazyGroup
from mofa.cli.options import global_output_format_option
from mofa.cli.terminal import parse_timezone


@click.group(
    cls=MofaGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    lazy_subcommands={"completion": "mofa.cli.completion:completion"},
)
@click.option(
    "--sessions-dir",
    type=click.Path(file_okay=False, readable=False),
    envvar="MOFA_SESSIONS_DIR",
    help="Sessions root [default: $MOFA_SESSIONS_DIR, $XDG_DATA_HOME/mofa/sessions,"
    " ~/.local/share/mofa/sessions].",
)
@click.option(
    "--index",
    "index_path",
    type=click.Path(dir_okay=False),
    envvar="MOFA_INDEX_PATH",
    help="Index file [default: $MOFA_INDEX_PATH, else one per root under"
    " $XDG_CACHE_HOME/mofa/index].",
)
@click.option(
    "--store",
    "store_url",
    metavar="URL",
    envvar="MOFA_STORE",
    help="A database store instead of the files: postgresql://... [default: $MOFA_STORE].",
)
@click.option("-v", "--verbose", is_flag=True, help="Say more on stderr.")
@global_output_format_option
@click.option(
    "--color",
    type=click.Choice(console.COLOR_MODES),
    default="auto",
    show_default=True,
    help="Colour: auto (only on a terminal, and never with NO_COLOR), always, never.",
)
@click.option(
    "--timezone",
    metavar="NAME",
    envvar="MOFA_TIMEZONE",
    help="Show the times of tables and conversations in this time zone: an IANA name"
    " (Europe/Paris) or local [default: $MOFA_TIMEZONE, else UTC]. JSON and YAML stay UTC.",
)
@click.option("--no-pager", is_flag=True, help="Never page output (also: MOFA_PAGER=cat).")
@click.version_option(__version__, prog_name="mofa")
@click.pass_context
def cli(
    ctx: click.Context, sessions_dir, index_path, store_url, verbose, color, timezone, no_pager
):
    """Manage the conversation sessions that AI agents leave on disk.

    \b
    Examples:
      mofa session list --limit 10
      mofa --sessions-dir ./examples/sessions session show agent-001:session-123
      mofa --timezone Europe/Paris session list           # times in another zone
      mofa --color always session search refund | less -R
      mofa --no-pager session show session-123 --full     # never through a pager
    """
    from click.core import ParameterSource

    if (
        store_url
        and sessions_dir
        and ctx.get_parameter_source("sessions_dir") == ParameterSource.COMMANDLINE
    ):
        if ctx.get_parameter_source("store_url") == ParameterSource.COMMANDLINE:
            raise click.UsageError("give either --store or --sessions-dir, not both")
        store_url = None  # an explicit root beats MOFA_STORE from the environment
    console.set_color_mode(color)
    if no_pager:
        os.environ["MOFA_PAGER"] = "cat"  # and for any command of this process
    app = ctx.obj = App(store_url, sessions_dir, index_path, verbose)
    if timezone:
        app.timezone = parse_timezone(timezone)
    ctx.call_on_close(app.close)


@cli.group(
    cls=LazyGroup,
    lazy_subcommands={
        "list": "mofa.cli.listing:list_sessions",
        "show": "mofa.cli.showing:show",
        "export": "mofa.cli.exporting:export",
        "delete": "mofa.cli.deleting:delete",
        "query": "mofa.cli.query_output:query",
        "import": "mofa.cli.importing:import_sessions",
        "search": "mofa.cli.searching:search",
        "prune": "mofa.cli.pruning:prune",
        "index": "mofa.cli.index_commands:index_group",
    },
)
def session():
    """List, show, search, export, import, delete, prune and query sessions; keep the index.

    Every command below has its own --help, with examples.

    \b
    Examples:
      mofa session list --agent agent-001
      mofa session show session-123 --format json | jq '.messages[]'
    """
