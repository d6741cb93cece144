"""`mofa session query` and `mofa session index path | status | rebuild | verify`."""

from __future__ import annotations

import time

import click

from mofa.cli import console
from mofa.cli.app import App, pass_app
from mofa.cli.errors import CliError, ExitStatus, mapped_errors
from mofa.cli.options import output_format_option


@click.command()
@click.argument("sql")
@output_format_option("table", "json", "csv")
@pass_app
def query(app: App, sql, fmt):
    """Run read-only SQL against the index (table `sessions`), refreshed first.

    No statement can change the index or any other file.

    \b
    Examples:
      mofa session query "SELECT agent, count(*) AS sessions FROM sessions GROUP BY agent"
      mofa session query "SELECT session_id FROM sessions WHERE status = 'empty'" -f json
      mofa session query "SELECT * FROM sessions" --output-format csv > sessions.csv
    """
    from mofa.cli import query_output

    with mapped_errors():
        result = app.store().query(sql, timeout=30.0)
        try:
            query_output.write(result.columns, result.rows, fmt)
        finally:
            result.close()


@click.group("index")
def index_group():
    """Inspect and maintain the SQLite index of the sessions root.

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
    with mapped_errors():
        location = app.store().index_location()
    if location is None:
        raise CliError("this store keeps no index file", ExitStatus.PERMISSION_DENIED)
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
    with mapped_errors():
        report = app.store().status()
    if fmt == "json":
        import json

        console.result(json.dumps(report, indent=2))
        return
    for key, value in report.items():
        console.result(f"{key.replace('_', ' ') + ':':<20} {'-' if value is None else value}")


@index_group.command()
@pass_app
def rebuild(app: App):
    """Rebuild the index from the session files, from scratch.

    \b
    Example:
      mofa session index rebuild
    """
    started = time.monotonic()
    with mapped_errors():
        store = app.store()
        console.status(f"→ Rebuilding the index: {store.index_location()}")
        result = store.rebuild(console.progress_reporter("Rebuilding the index"))
    for warning in result.warnings:
        console.warning(warning)
    console.success(f"✓ Indexed {result.sessions} sessions ({result.unreadable} unreadable files)"
                    f" in {time.monotonic() - started:.1f} s")


@index_group.command()
@click.option("--repair", is_flag=True, help="Rebuild the index when it disagrees with the files.")
@pass_app
def verify(app: App, repair):
    """Compare the index with the session files: missing, extra and stale rows.

    Exit status 0 only when they agree (or, with --repair, once repaired).

    \b
    Examples:
      mofa session index verify
      mofa session index verify --repair
    """
    from mofa.render import printable

    progress = console.progress_reporter("Verifying the index")
    with mapped_errors():
        store = app.store()
        report = store.verify(progress)
    for problem in report.problems:
        console.result(printable(f"{problem.kind}: {problem.where}: {problem.detail}"))
    failures = [problem for problem in report.problems if problem.kind != "duplicate"]
    if not failures:
        console.success(f"✓ The index agrees with the {report.examined} session files")
        return
    counts = {kind: sum(p.kind == kind for p in failures) for kind in ("missing", "extra", "stale")}
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
    if not repair:
        raise CliError(f"the index disagrees with the files: {summary}", ExitStatus.NOT_FOUND)
    with mapped_errors():
        store.rebuild(progress)
        left = [problem for problem in store.verify(progress).problems if problem.kind != "duplicate"]
    if left:
        raise CliError(f"repair left {len(left)} problems", ExitStatus.FAILED)
    console.success(f"✓ Repaired: {summary}; the index now agrees with the files")
