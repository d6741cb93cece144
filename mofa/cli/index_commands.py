"""`mofa session index path | status | rebuild | verify`."""

from __future__ import annotations

import time

import click

from mofa.cli import console
from mofa.cli.app import App, pass_app
from mofa.cli.errors import CliError, ExitStatus
from mofa.cli.options import output_format_option


@click.group("index")
def index_group():
    """Inspect and maintain the SQLite index of the sessions root (on a database store: its
    search index).

    \b
    Examples:
      sqlite3 "$(mofa session index path)" "SELECT count(*) FROM sessions"
      mofa session index status
      mofa session index verify --repair
    """


@index_group.command("path")
@pass_app
def index_path(app: App):
    """Print the index file of the sessions root.

    \b
    Example:
      sqlite3 "$(mofa session index path)"
    """
    store = app.store()
    location = store.index_location()
    if location is None:
        name = store.index_name()
        raise CliError(
            f"the {store.kind} store keeps no index file" + (f" ({name})" if name else ""),
            ExitStatus.PERMISSION_DENIED,
        )
    console.result(location)


@index_group.command()
@output_format_option("table", "json")
@pass_app
def status(app: App, fmt):
    """Show what the index holds, how fresh it is and whether mofa-indexd watches the root.

    \b
    Examples:
      mofa session index status
      mofa session index status -f json | jq .watcher_pid
    """
    report = app.store().status()
    if fmt == "json":
        import json

        console.result(json.dumps(report, indent=2))
        return
    for key, value in report.items():
        if key == "origins":  # hosts mirroring into a database store: one line each
            for origin in value:
                console.result(
                    f"{'origin ' + origin['origin'] + ':':<20} {origin['sessions']} sessions,"
                    f" last sync {origin['last_sync']} ({origin['lag_s']:g} s ago),"
                    f" last change {origin['last_change'] or '-'}"
                )
            continue
        console.result(f"{key.replace('_', ' ') + ':':<20} {'-' if value is None else value}")


@index_group.command()
@pass_app
def rebuild(app: App):
    """Rebuild the index from the session files, from scratch (on a database store: each
    message's search words, and the pg_trgm index, created when missing).

    \b
    Example:
      mofa session index rebuild
    """
    started = time.monotonic()
    store = app.store()
    location = store.index_location()
    console.status(
        f"→ Rebuilding the index: {location}"
        if location
        else f"→ Rebuilding {store.index_name() or 'the index'}"
    )
    result = store.rebuild(console.progress_reporter("Rebuilding the index"))
    for warning in result.warnings:
        console.warning(warning)
    unreadable = f" ({result.unreadable} unreadable files)" if location else ""
    console.success(
        f"✓ Indexed {result.sessions} sessions{unreadable} in {time.monotonic() - started:.1f} s"
    )


@index_group.command()
@click.option("--repair", is_flag=True, help="Rebuild the index when it disagrees with the files.")
@pass_app
def verify(app: App, repair):
    """Compare the index with the session files: missing, extra and stale rows (on a
    database store: message counts and search words against the stored messages).

    Exit status 0 only when they agree (or, with --repair, once repaired).

    \b
    Examples:
      mofa session index verify
      mofa session index verify --repair
    """
    from mofa.render import printable

    progress = console.progress_reporter("Verifying the index")
    store = app.store()
    report = store.verify(progress)
    # The files are the truth of an index file; a database's index derives from its own rows.
    truth = "files" if store.index_location() else "database"
    for problem in report.problems:  # names and details escaped: a file name can hold escapes
        console.result(f"{problem.kind}: {printable(problem.where)}: {printable(problem.detail)}")
    failures = [problem for problem in report.problems if problem.kind != "duplicate"]
    if not failures:
        console.success(
            f"✓ The index agrees with the {report.examined} session files"
            if truth == "files"
            else f"✓ The index agrees with the {report.examined} sessions in the database"
        )
        return
    counts = {kind: sum(p.kind == kind for p in failures) for kind in ("missing", "extra", "stale")}
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
    if not repair:
        raise CliError(f"the index disagrees with the {truth}: {summary}", ExitStatus.NOT_FOUND)
    store.rebuild(progress)
    left = [problem for problem in store.verify(progress).problems if problem.kind != "duplicate"]
    if left:
        raise CliError(f"repair left {len(left)} problems", ExitStatus.FAILED)
    console.success(f"✓ Repaired: {summary}; the index now agrees with the {truth}")
