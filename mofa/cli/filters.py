"""The options that narrow which sessions a command is about, and the one SessionFilter they
make: `list`, `search` and `prune` share them."""

from __future__ import annotations

import click

WHEN = "an RFC 3339 time, a date (YYYY-MM-DD) or a duration back from now (90m, 12h, 7d, 2w)"


def time_options(function):
    """`--since WHEN` and `--until WHEN` (on created_at; since inclusive, until exclusive)."""
    function = click.option(
        "--until", metavar="WHEN", help=f"Only sessions created before WHEN: {WHEN}."
    )(function)
    return click.option(
        "--since", metavar="WHEN", help=f"Only sessions created at or after WHEN: {WHEN}."
    )(function)


def session_options(function):
    """`--status S` (repeatable), `--user U`, `--tag T` (repeatable; all must be there)."""
    function = click.option(
        "--tag",
        "tags",
        multiple=True,
        metavar="TAG",
        help="Only sessions whose metadata.tags holds TAG (repeat: all of them).",
    )(function)
    function = click.option(
        "--user", metavar="USER_ID", help="Only the sessions of this metadata.user_id."
    )(function)
    function = click.option(
        "--status",
        "statuses",
        multiple=True,
        metavar="STATUS",
        help="Only sessions with this status (repeat for several).",
    )(function)
    return time_options(function)


SQL_INTEGER_MAX = 2**63 - 1


def session_filter(agent=None, limit=None, since=None, until=None, statuses=(), user=None, tags=()):
    """The SessionFilter of a command's options; raises InvalidTimeSpec (exit 2)."""
    from mofa.stores.base import SessionFilter

    if since is not None or until is not None:
        from mofa.when import when_text

        since = when_text(since) if since is not None else None
        until = when_text(until) if until is not None else None
    if limit is not None:
        limit = min(limit, SQL_INTEGER_MAX)  # more than SQL can count: all of them
    return SessionFilter(
        agent=agent,
        limit=limit,
        since=since,
        until=until,
        statuses=tuple(statuses),
        user=user,
        tags=tuple(tags),
    )
