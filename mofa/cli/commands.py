"""`mofa session list | show | export | delete`."""

from __future__ import annotations

import click

from mofa import __version__
from mofa.cli import console
from mofa.cli.app import App, pass_app
from mofa.cli.errors import MofaGroup
from mofa.cli.filters import session_filter, session_options
from mofa.cli.lazy import LazyGroup
from mofa.cli.options import (
    complete_agents,
    complete_session_ids,
    global_output_format_option,
    output_format_option,
    show_format_option,
)


@click.group(cls=MofaGroup, context_settings={"help_option_names": ["-h", "--help"]},
             lazy_subcommands={"completion": "mofa.cli.completion:completion"})
@click.option("--sessions-dir", type=click.Path(file_okay=False, readable=False), envvar="MOFA_SESSIONS_DIR",
              help="Sessions root [default: $MOFA_SESSIONS_DIR, $XDG_DATA_HOME/mofa/sessions,"
                   " ~/.local/share/mofa/sessions].")
@click.option("--index", "index_path", type=click.Path(dir_okay=False), envvar="MOFA_INDEX_PATH",
              help="Index file [default: $MOFA_INDEX_PATH, else one per root under"
                   " $XDG_CACHE_HOME/mofa/index].")
@click.option("--store", "store_url", metavar="URL", envvar="MOFA_STORE",
              help="A database store instead of the files: postgresql://... [default: $MOFA_STORE].")
@click.option("-v", "--verbose", is_flag=True, help="Say more on stderr.")
@global_output_format_option
@click.version_option(__version__, prog_name="mofa")
@click.pass_context
def cli(ctx: click.Context, sessions_dir, index_path, store_url, verbose):
    """Manage the conversation sessions that AI agents leave on disk.

    \b
    Examples:
      mofa session list --limit 10
      mofa --sessions-dir ./examples/sessions session show agent-001:session-123
    """
    from click.core import ParameterSource

    if store_url and sessions_dir and ctx.get_parameter_source("sessions_dir") == ParameterSource.COMMANDLINE:
        if ctx.get_parameter_source("store_url") == ParameterSource.COMMANDLINE:
            raise click.UsageError("give either --store or --sessions-dir, not both")
        store_url = None  # an explicit root beats MOFA_STORE from the environment
    app = ctx.obj = App(store_url, sessions_dir, index_path, verbose)
    ctx.call_on_close(app.close)


@cli.group(cls=LazyGroup, lazy_subcommands={"query": "mofa.cli.index_commands:query",
                                             "import": "mofa.cli.importing:import_sessions",
                                             "search": "mofa.cli.searching:search",
                                             "prune": "mofa.cli.pruning:prune",
                                             "index": "mofa.cli.index_commands:index_group"})
def session():
    """List, show, export, delete and query sessions.

    \b
    Examples:
      mofa session list --agent agent-001
      mofa session show session-123 --format json | jq '.messages[]'
    """


@session.command("list")
@click.option("-a", "--agent", metavar="AGENT_ID", shell_complete=complete_agents,
              help="Only the sessions of this agent (exact match).")
@click.option("-n", "--limit", type=click.IntRange(min=0), metavar="N",
              help="Only the N most recently created sessions (of those the filters keep).")
@session_options
@output_format_option("table", "json", mofa_spellings=True)
@pass_app
def list_sessions(app: App, agent, limit, since, until, statuses, user, tags, fmt):
    """List sessions: the N most recently created, printed oldest first.

    Every filter narrows; --limit applies last.

    \b
    Examples:
      mofa session list
      mofa session list --agent agent-001 --limit 10
      mofa session list --since 7d --status active --tag billing
      mofa session list --output-format json | jq -r '.[].session_id'
    """
    from mofa.cli import listing

    if limit is not None:
        limit = min(limit, 2**63 - 1)  # more than SQLite can count means all of them
    wanted = session_filter(agent, limit, since, until, statuses, user, tags)
    if fmt == "table":
        console.status("→ Listing sessions")
        if agent is not None:
            console.status(f"  Filtering by agent: {agent}")
        for label, value in (("Since", since), ("Until", until), ("Status", ", ".join(statuses)),
                             ("User", user), ("Tags", ", ".join(tags))):
            if value:
                console.status(f"  {label}: {value}")
        if limit is not None:
            console.status(f"  Limit: {limit}")
        console.status("")
    rows = app.store().list(wanted)
    if fmt == "json":
        listing.write_json(rows)
    else:
        listing.write_table(rows)


@session.command()
@click.argument("session_id", shell_complete=complete_session_ids)
@show_format_option
@click.option("--origin", metavar="NAME",
              help="The session mirrored from this host (mofa-indexd --origin), when several hold its id.")
@pass_app
def show(app: App, session_id, fmt, origin):
    """Show a session: its fields, metadata and conversation.

    SESSION_ID is `<agent>:<session>`, or just `<session>` when one agent has it.

    \b
    Examples:
      mofa session show agent-001:session-123
      mofa session show session-123 --format json | jq '.messages[] | select(.role == "user")'
      mofa session show session-123 -o yaml
    """
    from mofa.cli import showing

    store = app.store()
    loaded = store.load(store.resolve_origin(session_id, origin))
    for warning in loaded.warnings:
        console.warning(warning)
    showing.write(loaded, fmt)


@session.command()
@click.argument("session_id", shell_complete=complete_session_ids)
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="File to write ('-' for standard output); parent directories are created.")
@click.option("-f", "--format", "fmt", type=click.Choice(("json", "yaml", "markdown")),
              help="Export format [default: from the output's suffix .json, .yaml, .yml or .md].")
@click.option("--origin", metavar="NAME",
              help="The session mirrored from this host (mofa-indexd --origin), when several hold its id.")
@pass_app
def export(app: App, session_id, output, fmt, origin):
    """Export a session, every stored field as stored, to a JSON or YAML file.

    An existing file is replaced atomically, keeping its permissions: a failed export leaves
    no partial file. A device or FIFO is written into. A path inside the sessions root is
    refused (exit status 2).

    \b
    Examples:
      mofa session export agent-001:session-123 -o session.json
      mofa session export session-123 -o ./exports/session.yaml --format yaml
    """
    from mofa.cli import exporting

    fmt = fmt or exporting.format_from_suffix(output)
    exporting.check_outside_root(output, app.root)
    store = app.store()
    loaded = store.load(store.resolve_origin(session_id, origin))
    console.status(f"→ Exporting session: {loaded.session_id}")
    console.status(f"  Format: {fmt}")
    console.status(f"  Output: {output}")
    for warning in loaded.warnings:
        console.warning(warning)
    exporting.write(loaded, fmt, output)
    console.success(f"  ✓ Exported {loaded.message_count} messages")
    console.success("✓ Session exported successfully")


@session.command()
@click.argument("session_ids", metavar="SESSION_ID...", nargs=-1, required=True,
                shell_complete=complete_session_ids)
@click.option("--force", is_flag=True, help="Skip the confirmation prompt.")
@click.option("--origin", metavar="NAME",
              help="The session mirrored from this host (mofa-indexd --origin), when several hold its id.")
@pass_app
def delete(app: App, session_ids, force, origin):
    """Delete sessions and their conversation history.

    Several ids, or `-` to read them from standard input, one per line, are deleted in one
    go after one prompt (then answered on the terminal). Anything but `y` or `yes`, or the
    end of input, cancels (exit status 0). Exit statuses: 0 all deleted or cancelled, else
    the first failing id's: 1 not found, 2 permission denied, 3 failed.

    \b
    Examples:
      mofa session delete agent-001:session-123
      mofa session delete session-123 session-124 --force
      mofa session list --status empty -f json | jq -r '.[].session_id' | mofa session delete - --force
    """
    from mofa.cli import deleting

    texts, answers = deleting.wanted_ids(session_ids)
    store = app.store()
    if len(texts) == 1 and session_ids != ("-",):
        deleting.delete_one(store, texts[0], force, answers, origin)
    else:
        deleting.delete_many(store, texts, force, answers, origin)
