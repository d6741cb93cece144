"""`export`: the format from the suffix, the output path's checks, and the write."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable

import click

from mofa.cli import console
from mofa.cli.app import App, pass_app
from mofa.cli.console import document as write_stdout
from mofa.cli.filters import session_options
from mofa.cli.options import complete_session_ids
from mofa.cli.suggesting import resolve_or_suggest
from mofa.documents import export_document, to_json, to_yaml
from mofa.errors import RefusedPath, SessionPermissionError, StoreError
from mofa.paths import check_outside_root  # noqa: F401  (also used by prune)
from mofa.plurals import counted
from mofa.session import Session
from mofa.stores.writing import pieces, write_atomically

EXPORT_PREFIX = ".mofa-export-"  # the temporary file's name: hidden, so never a session

SUFFIXES = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".md": "markdown", ".jsonl": "jsonl"}


@click.command("export")
@click.argument(
    "session_ids", metavar="SESSION_ID...", nargs=-1, shell_complete=complete_session_ids
)
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(allow_dash=True),
    help="File to write ('-' for standard output), or for several sessions the archive"
    " directory; parent directories are created.",
)
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(("json", "yaml", "markdown", "jsonl")),
    help="Export format [default: from the output's suffix .json, .yaml, .yml, .md or .jsonl;"
    " json for '-'; several sessions: an archive directory, jsonl for '-'].",
)
@click.option("-a", "--agent", metavar="AGENT_ID", help="Every session of this agent.")
@session_options
@click.option("--all", "everything", is_flag=True, help="Every session of the store.")
@click.option(
    "--origin",
    metavar="NAME",
    help="The session mirrored from this host (mofa-indexd --origin), when several hold its id.",
)
@pass_app
def export(
    app: App,
    session_ids,
    output,
    fmt,
    agent,
    since,
    until,
    statuses,
    user,
    tags,
    everything,
    origin,
):
    """Export sessions: one to a JSON, YAML or Markdown file (json and yaml: every stored
    field as stored; markdown: the conversation to read; the format is --format, else the
    output's suffix: .json, .yaml/.yml, .md); several to an archive directory or a jsonl file.

    One session: an existing file is replaced atomically, keeping its permissions, so a failed
    export leaves no partial file; a device or FIFO is written into. With `-o -` the format is
    json unless given, and nothing but the export is written.

    Several sessions (several ids, `-` to read ids from standard input one per line, or the
    filters of `list`, or --all) are exported by one process: into the archive directory
    `-o DIR` (one json file per session and manifest.jsonl; nothing in DIR is replaced;
    docs/archives.md), or with `-f jsonl` one json export per line, to a file or to standard
    output (`-o -`, the default there). A session that fails is one error line and the others
    are still exported; the exit status is then the first failure's: 1 not found, 2 permission
    denied, 3 failed. A path inside the sessions root is refused (exit status 2).

    \b
    Examples:
      mofa session export agent-001:session-123 -o session.json
      mofa session export session-123 -o ./exports/session.yaml --format yaml
      mofa session export session-123 -o session.md
      mofa session export session-123 -o - | jq .messages
      mofa session export session-123 session-124 -o ./week-archive
      mofa session export --agent agent-001 --since 7d -o ./week-archive
      mofa session export --all -f jsonl -o all.jsonl
      mofa session list --status empty -f json | jq -r '.[].session_id' | mofa session export - -o -
    """
    chosen = _Selection(session_ids, agent, since, until, statuses, user, tags, everything)
    if not session_ids and not chosen.filtered:
        raise click.UsageError(
            "give a SESSION_ID, several, `-` (ids on standard input), a filter or --all"
        )
    if not chosen.is_bulk(fmt, output):
        _export_one(app, session_ids[0], output, fmt, origin)
        return
    from mofa.cli.bulk_export import export_many

    export_many(app, chosen, output, fmt, origin)


class _Selection:
    """Which sessions an export names: ids (`-` reading standard input) or list's filters."""

    def __init__(self, ids, agent, since, until, statuses, user, tags, everything):
        self.ids = ids
        self.filters = dict(
            agent=agent, since=since, until=until, statuses=statuses, user=user, tags=tags
        )
        self.everything = everything
        filtered = everything or any(value for value in self.filters.values())
        if ids and filtered:
            raise click.UsageError("give session ids, or filters (or --all), not both")
        self.filtered = filtered

    def is_bulk(self, fmt: str | None, output: str) -> bool:
        jsonl = fmt == "jsonl" or (fmt is None and output.lower().endswith(".jsonl"))
        return self.filtered or len(self.ids) != 1 or self.ids == ("-",) or jsonl


def _export_one(app: App, session_id: str, output: str, fmt: str | None, origin) -> None:
    """One session to a file, as the reference page shows it, or to stdout and nothing else."""
    import os

    to_stdout = output == "-"
    fmt = fmt or ("json" if to_stdout else format_from_suffix(output))
    if not to_stdout and os.path.isdir(output):
        raise click.BadParameter(f"{output!r} is a directory.", param_hint="'-o' / '--output'")
    check_outside_root(output, app.root)
    store = app.store()
    loaded = store.load(resolve_or_suggest(store, session_id, origin))
    say = (lambda text: None) if to_stdout else console.status
    say(f"→ Exporting session: {loaded.session_id}")
    say(f"  Format: {fmt}")
    say(f"  Output: {output}")
    for warning in loaded.warnings:
        console.warning(warning)
    write(loaded, fmt, output)
    if not to_stdout:
        console.success(f"  ✓ Exported {counted(loaded.message_count, 'message')}")
        console.success("✓ Session exported successfully")


def format_from_suffix(output: str) -> str:
    suffix = os.path.splitext(output)[1].lower()
    if suffix not in SUFFIXES:
        raise click.UsageError(
            f"cannot tell the format from {output!r}: give --format json|yaml|markdown "
            "or an output ending in .json, .yaml, .yml or .md"
        )
    return SUFFIXES[suffix]


def write(session: Session, fmt: str, output: str) -> None:
    if fmt == "markdown":
        from mofa.markdown import session_markdown

        text = session_markdown(session)
    else:
        document = export_document(session)
        text = to_json(document) if fmt == "json" else to_yaml(document)
    if output == "-":
        write_stdout(text)
        return
    write_file(output, text.encode("utf-8"))


def write_file(path: str, data: bytes | Iterable[bytes]) -> None:
    """Write `data` (bytes, or pieces of them as they come) to `path`: into a device or FIFO
    (or a symlink to one) as it is; else replacing the file atomically, with the permission
    bits it had."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        st = None
    except PermissionError:
        raise SessionPermissionError(f"permission denied: cannot write {path}") from None
    except OSError as error:
        raise StoreError(f"cannot write {path}: {error.strerror or error}") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        if stat.S_ISDIR(st.st_mode):
            raise RefusedPath(f"cannot write {path}: it is a directory")
        write_into(path, data)
        return
    # A symlink to a regular file: replace the file it names, keep the link.
    target = os.path.realpath(path) if os.path.islink(path) else path
    write_atomically(target, data, None if st is None else stat.S_IMODE(st.st_mode), EXPORT_PREFIX)


def write_into(path: str, data: bytes | Iterable[bytes]) -> None:
    """Write into an existing special file (/dev/null, a terminal, a FIFO): never replaced."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC)
        try:
            for piece in pieces(data):
                view = memoryview(piece)
                while view:
                    view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
    except PermissionError:
        raise SessionPermissionError(f"permission denied: cannot write {path}") from None
    except OSError as error:
        raise StoreError(f"cannot write {path}: {error.strerror or error}") from None
