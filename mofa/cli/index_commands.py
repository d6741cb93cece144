"""`mofa session index path | status | rebuild | verify | stop | clean`."""

from __future__ import annotations

import time

import click

from mofa.cli import console
from mofa.cli.app import App, pass_app
from mofa.cli.errors import CliError, ExitStatus
from mofa.cli.options import output_format_option
from mofa.plurals import counted


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
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="Every index file in the cache directory: its root, whether it still exists, its size.",
)
@output_format_option("table", "json")
@pass_app
def status(app: App, every, fmt):
    """Show what the index holds, how fresh it is and whether mofa-indexd watches the root.

    \b
    Examples:
      mofa session index status
      mofa session index status -f json | jq .watcher_pid
      mofa session index status --all
    """
    if every:
        _write_catalog(app.store().cached_indexes(), fmt)
        return
    report = app.store().status()
    if fmt == "json":
        import json

        console.result(json.dumps(report, indent=2))
        return
    for key, value in report.items():
        if key == "origins":  # hosts mirroring into a database store: one line each
            for origin in value:
                console.result(
                    f"{'origin ' + origin['origin'] + ':':<20}"
                    f" {counted(origin['sessions'], 'session')},"
                    f" last sync {origin['last_sync']} ({origin['lag_s']:g} s ago),"
                    f" last change {origin['last_change'] or '-'}"
                )
            continue
        if key == "search_data":
            value = _search_data(value)
        console.result(f"{key.replace('_', ' ') + ':':<20} {'-' if value is None else value}")


def _search_data(state: dict) -> str:
    """The search data's state (indexer.index.search_build.SearchState) in words."""
    if state["state"] == "building":
        return (
            f"building, {state['sessions_done']:,} of"
            f" {counted(state['sessions_total'], 'session', spec=',')}"
        )
    if state["state"] == "behind":
        return f"{counted(state['sessions_queued'], 'changed session', spec=',')} to read"
    if state["state"] == "none":
        return "not built yet (the first search, or mofa-indexd, builds it)"
    return str(state["state"])


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
    unreadable = f" ({counted(result.unreadable, 'unreadable file')})" if location else ""
    console.success(
        f"✓ Indexed {counted(result.sessions, 'session')}{unreadable}"
        f" in {time.monotonic() - started:.1f} s"
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
            f"✓ The index agrees with the {counted(report.examined, 'session file')}"
            if truth == "files"
            else f"✓ The index agrees with the {counted(report.examined, 'session')}"
            " in the database"
        )
        return
    counts = {kind: sum(p.kind == kind for p in failures) for kind in ("missing", "extra", "stale")}
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
    if not repair:
        raise CliError(f"the index disagrees with the {truth}: {summary}", ExitStatus.NOT_FOUND)
    store.rebuild(progress)
    left = [problem for problem in store.verify(progress).problems if problem.kind != "duplicate"]
    if left:
        raise CliError(f"repair left {counted(len(left), 'problem')}", ExitStatus.FAILED)
    console.success(f"✓ Repaired: {summary}; the index now agrees with the {truth}")


def _write_catalog(entries, fmt: str) -> None:
    from mofa.render import box_table, printable

    if fmt == "json":
        import json

        console.result(json.dumps([entry._asdict() for entry in entries], indent=2))
        return
    if not entries:
        console.result("No index files.")
        return
    rows = [
        [
            printable(entry.root if entry.root is not None else "?"),
            "yes" if entry.root_exists else "no",
            _size_text(entry.size_bytes),
            "-" if entry.watcher_pid is None else str(entry.watcher_pid),
            printable(entry.path),
        ]
        for entry in entries
    ]
    console.result(box_table(["root", "exists", "size", "watcher", "index"], rows))
    stale = [entry for entry in entries if entry.root is not None and not entry.root_exists]
    if stale:
        total = _size_text(sum(entry.size_bytes for entry in stale))
        console.status(
            f"{counted(len(stale), 'index', 'indexes')} of removed roots ({total}):"
            " `mofa session index clean` removes them"
        )


def _size_text(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"


@index_group.command()
@pass_app
def clean(app: App):
    """Remove the index files of sessions roots that no longer exist.

    Index files live in the cache directory, one per root; a root removed or renamed leaves
    its index behind. Indexes of roots that exist, and any a watcher uses, are kept.

    \b
    Examples:
      mofa session index status --all
      mofa session index clean
    """
    gone = app.store().clean_indexes()
    for entry in gone:
        console.status(f"  removed {entry.path} (root {entry.root})")
    freed = _size_text(sum(entry.size_bytes for entry in gone))
    console.success(
        f"✓ Removed {counted(len(gone), 'index', 'indexes')} of removed roots ({freed})"
    )


@index_group.command()
@pass_app
def stop(app: App):
    """Stop the mofa-indexd watching the sessions root (SIGTERM), and wait for it to exit.

    Commands keep working without it, stat-ing the files; a big root starts one again.

    \b
    Example:
      mofa session index stop
    """
    try:
        pid = app.store().stop_watcher()
    except TimeoutError as error:
        raise CliError(
            f"mofa-indexd (pid {error.args[0]}) did not stop", ExitStatus.FAILED
        ) from None
    if pid is None:
        console.status("No mofa-indexd watches this root.")
        return
    console.success(f"✓ Stopped mofa-indexd (pid {pid})")
