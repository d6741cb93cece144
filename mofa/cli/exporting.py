"""`export`: the format from the suffix, the output path's checks, and the write."""

from __future__ import annotations

import os
import stat

import click

from mofa.cli import console
from mofa.cli.app import App, pass_app
from mofa.cli.console import document as write_stdout
from mofa.cli.options import complete_session_ids
from mofa.documents import export_document, to_json, to_yaml
from mofa.errors import RefusedPath, SessionPermissionError, StoreError
from mofa.paths import check_outside_root  # noqa: F401  (also used by prune)
from mofa.session import Session
from mofa.stores.writing import write_atomically

EXPORT_PREFIX = ".mofa-export-"  # the temporary file's name: hidden, so never a session

SUFFIXES = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".md": "markdown"}


@click.command("export")
@click.argument("session_id", shell_complete=complete_session_ids)
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="File to write ('-' for standard output); parent directories are created.",
)
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(("json", "yaml", "markdown")),
    help="Export format [default: from the output's suffix .json, .yaml, .yml or .md;"
    " json for '-'].",
)
@click.option(
    "--origin",
    metavar="NAME",
    help="The session mirrored from this host (mofa-indexd --origin), when several hold its id.",
)
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
    to_stdout = output == "-"
    fmt = fmt or ("json" if to_stdout else format_from_suffix(output))
    check_outside_root(output, app.root)
    store = app.store()
    loaded = store.load(store.resolve_origin(session_id, origin))
    if not to_stdout:  # to stdout, nothing but the export is written
        console.status(f"→ Exporting session: {loaded.session_id}")
        console.status(f"  Format: {fmt}")
        console.status(f"  Output: {output}")
    for warning in loaded.warnings:
        console.warning(warning)
    write(loaded, fmt, output)
    if not to_stdout:
        console.success(f"  ✓ Exported {loaded.message_count} messages")
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


def write_file(path: str, data: bytes) -> None:
    """Write `data` to `path`: into a device or FIFO (or a symlink to one) as it is; else
    replacing the file atomically, with the permission bits it had."""
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


def write_into(path: str, data: bytes) -> None:
    """Write into an existing special file (/dev/null, a terminal, a FIFO): never replaced."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
    except PermissionError:
        raise SessionPermissionError(f"permission denied: cannot write {path}") from None
    except OSError as error:
        raise StoreError(f"cannot write {path}: {error.strerror or error}") from None
