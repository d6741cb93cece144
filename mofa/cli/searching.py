"""`mofa session search QUERY`: sessions whose messages hold the words, best first."""

from __future__ import annotations

import click

from mofa.cli.app import App, pass_app
from mofa.cli.filters import session_filter, time_options
from mofa.cli.options import output_format_option, pager_option


@click.command("search")
@click.argument("query")
@click.option("-a", "--agent", metavar="AGENT_ID", help="Only the sessions of this agent.")
@click.option(
    "--role", metavar="ROLE", help="Only messages of this role (user, assistant, tool, ...)."
)
@time_options
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    metavar="N",
    help="At most N sessions.",
)
@output_format_option("table", "json")
@pager_option
@pass_app
def search(app: App, query, agent, role, since, until, limit, fmt, no_pager):
    """Search the text of the messages: every word must match, best match first.

    QUERY is words (all must be in one message), "a phrase" and prefix* terms; case and
    accents do not matter. Structured content (tool results) is searched by its text.

    \b
    Examples:
      mofa session search refund
      mofa session search '"order status" ship*' --agent agent-001 --since 7d
      mofa session search timeout --role tool -f json | jq -r '.[].session_id'
    """
    from mofa.cli import search_output

    wanted = session_filter(agent, limit, since, until)
    hits = app.store().search(query, wanted, role)
    if fmt == "json":
        search_output.write_json(hits)
    else:
        search_output.write_table(hits, app.timezone, pager=not no_pager)
