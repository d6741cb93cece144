"""`mofa session import`: export files, or a whole files root, into the current store."""

from __future__ import annotations

import os

import click

from mofa.cli import console
from mofa.cli.app import App, pass_app
from mofa.cli.errors import CliError, ExitStatus, cli_error
from mofa.errors import (
    AmbiguousSessionId,
    CorruptSession,
    InvalidSessionId,
    SessionExists,
    SessionFileTaken,
    SessionNotFound,
    StoreUnavailable,
)
from mofa.plurals import counted


@click.command("import")
@click.argument("files", nargs=-1, type=click.Path(allow_dash=False))
@click.option(
    "--from-dir",
    "from_dir",
    type=click.Path(file_okay=False),
    metavar="ROOT",
    help="Copy every session of this files root into the current store.",
)
@click.option("--replace", is_flag=True, help="Replace a stored session that has the same id.")
@pass_app
def import_sessions(app: App, files, from_dir, replace):
    """Restore exported sessions (json, yaml or jsonl files, or archive directories) into the
    current store, keeping their ids.

    An id that is already stored is refused (exit status 1) unless --replace; a session
    identical to the stored one is skipped, so running an import twice changes nothing.
    Export, delete and import give back an identical export. An archive (a directory that
    `prune --archive` wrote) is read through its manifest, each file checked against its
    SHA-256. A .jsonl file (what `export -f jsonl` writes) holds one session per line.

    \b
    Examples:
      mofa session import session.json exports/*.yaml
      mofa session import week.jsonl
      mofa session import ~/session-archive
      mofa session import --replace session.json
      mofa --store postgresql://db/mofa session import --from-dir ~/.local/share/mofa/sessions
    """
    from mofa.importing import ExportedSession, read_export

    if bool(files) == bool(from_dir):
        raise click.UsageError("give export FILES, or --from-dir ROOT (not both)")
    store = app.store()
    if from_dir:
        items, total = _from_root(from_dir)
        console.status(f"→ Importing {counted(total, 'session')} from {from_dir}")
    else:
        items, total = _files_and_archives(files)
        console.status(f"→ Importing {counted(total, 'file')}")
    progress = console.progress_reporter("Importing sessions")
    counts = {"imported": 0, "replaced": 0, "unchanged": 0}
    first_failure = None
    with store.saving_many():  # on disk, every one of them, before the ✓ line
        for done, (source, item) in enumerate(items, 1):
            try:
                if isinstance(item, Exception):
                    raise item  # an archived session that cannot be restored
                exported = item if isinstance(item, ExportedSession) else read_export(source)
                counts[_import_one(store, exported, replace)] += 1
            except StoreUnavailable as error:  # a lost store fails every session left: once
                console.error_line(str(error))
                first_failure = first_failure or CliError(str(error), ExitStatus.FAILED)
                break
            except Exception as error:  # one line per file that fails; a bug still surfaces
                failure = cli_error(error)
                if failure is None:
                    raise
                console.error_line(failure.format_message())
                first_failure = first_failure or failure
            if progress:
                progress(done, total)
    console.success(
        f"✓ Imported {counted(counts['imported'], 'session')} ({counts['replaced']} replaced,"
        f" {counts['unchanged']} unchanged)"
    )
    if first_failure is not None:
        click.get_current_context().exit(first_failure.exit_code)


def _import_one(store, exported, replace: bool) -> str:

    state = _stored_state(store, exported)
    if state == "same":
        return "unchanged"
    try:
        store.save(exported.session_id, exported.document, replace=replace)
    except SessionFileTaken:
        raise
    except SessionExists:
        # Another import may have stored this very session meanwhile: that is no failure.
        if _stored_state(store, exported) == "same":
            return "unchanged"
        if not replace:
            raise SessionExists(
                f"session {exported.session_id!r} already exists with other content"
                f" (from {exported.source}); use --replace"
            ) from None
        raise
    return "replaced" if state == "other" else "imported"


def _stored_state(store, exported) -> str:
    """ "same" when the store holds this id with exactly this content, "other" when it holds
    it otherwise, "none" when it does not hold it."""
    from mofa.documents import export_document, same_content

    try:
        ref = store.resolve_saved(exported.session_id)  # the session a save would replace
    except (SessionNotFound, InvalidSessionId, AmbiguousSessionId):
        return "none"
    if ref.session_id != exported.session_id:
        return "none"
    try:
        stored = export_document(store.load(ref))
    except SessionNotFound:
        return "none"
    except CorruptSession:
        return "other"  # an unreadable stored session is never the same
    return "same" if same_content(stored, exported.document) else "other"


def _files_and_archives(files):
    """(source, None) for each json or yaml export file, and (source, ExportedSession or its
    failure) for each session of a jsonl export file or of an archive directory (through its
    manifest), streamed; and how many in all."""

    from mofa.archives import archived_exports, manifest_entries
    from mofa.errors import MofaError
    from mofa.importing import is_jsonl_export, jsonl_export_count, read_jsonl_exports

    def count(path: str) -> int:
        if os.path.isdir(path):
            return len(manifest_entries(path))
        return jsonl_export_count(path) if is_jsonl_export(path) else 1

    total = sum(count(path) for path in files)

    def items():
        for path in files:
            if os.path.isdir(path):
                yield from archived_exports(path)
            elif is_jsonl_export(path):
                try:
                    yield from read_jsonl_exports(path)
                except MofaError as error:  # the file itself cannot be read
                    yield path, error
            else:
                yield path, None

    return items(), total


def _from_root(root: str):
    """(source, ExportedSession) for every readable session of a files root, streamed, and how
    many session files the root holds."""

    from mofa import tree
    from mofa.documents import export_document
    from mofa.importing import ExportedSession
    from mofa.stores.files import FileSessionStore

    if not os.path.isdir(root):
        raise CliError(f"no such sessions root: {root}", ExitStatus.NOT_FOUND)
    root = os.path.abspath(root)
    total = sum(len(files) for _, files in tree.session_files(root, skipped=[]))
    source = FileSessionStore(root, console.warning)
    return (
        (
            (
                session.path,
                ExportedSession(session.path, session.session_id, export_document(session)),
            )
            for session in source.iter_sessions()
        ),
        total,
    )
