"""Bulk `export`: many sessions in one process, from one store, with one look-up for them all,
into an archive directory (mofa.archives, the writer `prune --archive` uses) or as jsonl."""

from __future__ import annotations

import os

import click

from mofa.cli import console
from mofa.cli.app import App
from mofa.cli.errors import CliError, cli_error
from mofa.paths import check_outside_root
from mofa.plurals import counted

ARCHIVE, JSONL = "archive", "jsonl"


def export_many(app: App, chosen, output: str, fmt: str | None, origin: str | None) -> None:
    """Export the sessions `chosen` (exporting._Selection) names into `output`; one error line
    per session that fails, the others still exported; exit with the first failure's status."""
    form = _form(fmt, output)
    to_stdout = output == "-"
    if not to_stdout:
        check_outside_root(output, app.root)  # refused before anything is looked up
        if form == JSONL and os.path.isdir(output):
            raise click.BadParameter(f"{output!r} is a directory.", param_hint="'-o' / '--output'")
    failures = _Failures()
    store = app.store()
    refs = _refs(store, chosen, origin, failures)
    if not refs:
        if failures.first is None and not to_stdout:
            console.status("No sessions to export.")
        failures.exit()
        return
    if form == ARCHIVE:
        exported, messages = _to_archive(app, store, refs, output, failures)
    else:
        exported, messages = _to_jsonl(store, refs, output, failures)
    if not to_stdout:
        counts = f"{counted(exported, 'session')} ({counted(messages, 'message')})"
        console.success(f"✓ Exported {counts} to {output}")
    failures.exit()


def _form(fmt: str | None, output: str) -> str:
    if fmt == "jsonl" or (fmt is None and (output == "-" or output.lower().endswith(".jsonl"))):
        return JSONL
    if output == "-":
        raise click.UsageError(
            "several sessions go to standard output one per line: give -f jsonl (or no -f)"
        )
    suffix = os.path.splitext(output)[1].lower()
    if fmt is None and suffix in (".yaml", ".yml", ".md"):
        raise click.UsageError(
            f"several sessions go into an archive directory or a jsonl file, not {output!r}"
            " (yaml and markdown export one session at a time)"
        )
    if fmt not in (None, "json"):
        raise click.UsageError(
            f"several sessions are exported as an archive directory (json) or as jsonl, not"
            f" {fmt}: export one session at a time for {fmt}"
        )
    return ARCHIVE


class _Failures:
    """One error line per session that fails; the exit status is the first failure's."""

    def __init__(self) -> None:
        self.first: CliError | None = None

    def add(self, error: BaseException, session_id: str) -> None:
        failure = error if isinstance(error, CliError) else cli_error(error)
        if failure is None:
            raise error  # a bug still surfaces
        message = failure.format_message()
        console.error_line(message if session_id in message else f"{session_id}: {message}")
        self.first = self.first or failure

    def exit(self) -> None:
        if self.first is not None:
            click.get_current_context().exit(self.first.exit_code)


def _refs(store, chosen, origin: str | None, failures: _Failures) -> list:
    """The sessions to export, each once, in the order named (ids) or listed (filters): every
    id resolved in one go (one refresh of the index, one handshake with a watcher)."""
    from mofa.errors import MofaError

    if chosen.filtered:
        from mofa.cli.filters import session_filter

        wanted = session_filter(**chosen.filters)._replace(origin=origin)
        rows = [
            row
            for row in store.list(wanted)
            if origin is None or getattr(row, "origin", None) == origin
        ]
        labels, outcomes = [row.session_id for row in rows], store.resolve_rows(rows)
    else:
        from mofa.cli.deleting import read_ids

        labels = []
        for item in read_ids(chosen.ids):
            if isinstance(item, CliError):  # a line of standard input that is not UTF-8
                failures.add(item, "")
            else:
                labels.append(item)
        if origin is None:
            outcomes = store.resolve_many(labels)
        else:
            outcomes = []
            for text in labels:
                try:
                    outcomes.append(store.resolve_origin(text, origin))
                except MofaError as error:
                    outcomes.append(error)
    refs, seen = [], set()
    for label, outcome in zip(labels, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            failures.add(outcome, label)
            continue
        key = (outcome.session_id, repr(outcome.handle))
        if key not in seen:  # one session named twice (full and short id): exported once
            seen.add(key)
            refs.append(outcome)
    return refs


def _loaded(store, refs: list, failures: _Failures, label: str):
    """Each session that can be read, loaded once, with the progress bar drawn on a terminal;
    a lost store stops the export with one line."""
    from mofa.errors import MofaError, StoreUnavailable

    progress = console.progress_reporter(label)
    for done, ref in enumerate(refs, 1):
        try:
            session = store.load(ref)
        except StoreUnavailable:
            raise
        except MofaError as error:
            failures.add(error, ref.session_id)
        else:
            for warning in session.warnings:
                console.warning(warning)
            yield session
        if progress:
            progress(done, len(refs))


def _to_archive(app: App, store, refs: list, directory: str, failures: _Failures):
    from mofa.archives import Archive, check_agent_dirs
    from mofa.documents import json_export
    from mofa.errors import ArchiveFull, ArchiveRefused, MofaError, StoreUnavailable

    # an archive that would write into the root is refused before anything is written
    check_agent_dirs(directory, app.root, (ref.agent for ref in refs))
    console.status(f"→ Exporting {counted(len(refs), 'session')} to the archive {directory}")
    exported = messages = 0
    with Archive.open(directory, app.root, durable=False) as archive:
        for session in _loaded(store, refs, failures, "Exporting sessions"):
            try:
                archive.add(session.session_id, session.agent, json_export(session))
            except (StoreUnavailable, ArchiveFull, ArchiveRefused):  # one line, not one a session
                raise
            except MofaError as error:
                failures.add(error, session.session_id)
            else:
                exported += 1
                messages += session.message_count
    return exported, messages


def _to_jsonl(store, refs: list, output: str, failures: _Failures):
    from mofa.documents import jsonl_export

    counts = [0, 0]

    def lines():
        for session in _loaded(store, refs, failures, "Exporting sessions"):
            counts[0] += 1
            counts[1] += session.message_count
            yield jsonl_export(session)

    if output == "-":
        import sys

        write = console.document_writer(binary=True)
        try:
            for line in lines():
                write(line)
        finally:
            sys.stdout.flush()
    else:
        from mofa.cli.exporting import write_file

        console.status(f"→ Exporting {counted(len(refs), 'session')} to {output} (jsonl)")
        write_file(output, lines())
    return counts[0], counts[1]
