"""`mofa session search QUERY`: sessions with messages that match the query, best first."""

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
    """Search the text of the messages, best match first.

    QUERY is words (all must be in one message), "a phrase" and prefix* terms; a OR b, AND,
    -word or NOT word (not in the message), and (parentheses) to group. NOT binds tightest,
    then AND (a space), then OR; the operators are upper case. A - inside a word (e-mail) is
    part of it; a query of negations alone is refused. Case and accents do not matter.
    Structured content (tool results) is searched by its text. JSON rows give the position of
    the first matching message (message), for show --messages. The table fits the terminal.

    \b
    Examples:
      mofa session search refund
      mofa session search '"order status" ship*' --agent agent-001 --since 7d
      mofa session search 'refund OR chargeback -test' -f json
      mofa session search '(invoice OR receipt) NOT draft' --role user
      mofa session search timeout --role tool -f json | jq -r '.[].session_id'
      mofa session search -- '-draft invoice'     # a query that starts with -
    """
    from mofa.cli import search_output

    wanted = session_filter(agent, limit, since, until)
    hits = app.store().search(query, wanted, role)
    if fmt == "json":
        search_output.write_json(hits)
    else:
        search_output.write_table(hits, app.timezone, pager=not no_pager)
