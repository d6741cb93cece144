"""`mofa session prune`: delete old sessions in one go, with a dry run and an archive."""

from __future__ import annotations

import click

from mofa.cli import console
from mofa.cli.app import App, pass_app
from mofa.cli.errors import CliError, ExitStatus, cli_error
from mofa.cli.prompt import confirmed
from mofa.plurals import counted


@click.command("prune")
@click.option(
    "--older-than",
    "older_than",
    metavar="DURATION",
    help="Sessions created longer ago than DURATION (90m, 12h, 7d, 2w).",
)
@click.option(
    "--before", metavar="WHEN", help="Sessions created before WHEN (an RFC 3339 time or a date)."
)
@click.option("-a", "--agent", metavar="AGENT_ID", help="Only the sessions of this agent.")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    metavar="STATUS",
    help="Only sessions with this status (repeat for several).",
)
@click.option("--dry-run", is_flag=True, help="Print the ids that would go; delete nothing.")
@click.option(
    "--archive",
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="Archive each session into DIR (its json export and a manifest line) before deleting it.",
)
@click.option("--force", is_flag=True, help="Skip the confirmation prompt.")
@pass_app
def prune(app: App, older_than, before, agent, statuses, dry_run, archive, force):
    """Delete the sessions created before a time, all at once.

    One prompt names how many sessions (and messages) go; --force skips it. A session whose
    creation time is unknown is never pruned. With --archive, each session is written to DIR
    (docs/archives.md), flushed and read back, and deleted only if its file is unchanged since
    it was read; a session whose archive fails, or that was written to meanwhile, is kept
    (exit status 3). Agent directories left empty are removed.

    \b
    Examples:
      mofa session prune --older-than 30d --dry-run
      mofa session prune --older-than 90d --archive ~/session-archive --force
      mofa session prune --before 2024-01-01 --agent agent-001 --status empty
    """
    from mofa.stores.base import SessionFilter

    if (older_than is None) == (before is None):
        raise click.UsageError("give one of --older-than DURATION or --before WHEN")
    from mofa.when import older_than_text, when_text

    cutoff = older_than_text(older_than) if older_than is not None else when_text(before)
    store = app.store()
    rows = [
        row
        for row in store.list(SessionFilter(agent=agent, until=cutoff, statuses=tuple(statuses)))
        if row.created_at  # unknown ('' or None): no age, so never old enough
    ]
    messages = sum(row.message_count for row in rows)
    if archive is not None:
        from mofa.archives import check_agent_dirs

        # an archive that would write into the root is refused before anything is done
        check_agent_dirs(archive, app.root, (row.agent for row in rows))
    if dry_run:
        _dry_run(rows, archive)
        console.status(
            f"Would prune {counted(len(rows), 'session')} ({counted(messages, 'message')});"
            " nothing was deleted."
        )
        return
    if not rows:
        console.status("No sessions to prune.")
        return
    if not force:
        console.status(
            f"→ Pruning {counted(len(rows), 'session')} ({counted(messages, 'message')})"
            f" created before {cutoff}"
        )
        console.status("This action cannot be undone.\n")
        if not confirmed(f"Prune {counted(len(rows), 'session')}? [y/N]: "):
            console.status("Cancelled: nothing was deleted.")
            return
    failures = 0

    def kept(error: BaseException, session_id: str) -> None:
        nonlocal failures
        failure = cli_error(error)
        if failure is None:
            raise error  # a bug still surfaces
        console.error_line(f"{failure.format_message()} ({session_id} kept)")
        failures += 1

    # One refresh for every id; with an archive, each session read once and archived from
    # what was read (a session whose archive fails is kept), then deleted only if still as it
    # was read; the files deleted first, their rows dropped in one transaction.
    going, versions = [], []
    progress = console.progress_reporter("Archiving sessions") if archive is not None else None
    with _opened_archive(archive, app.root) as archived:
        for done, (row, ref) in enumerate(zip(rows, store.resolve_rows(rows), strict=True), 1):
            if isinstance(ref, BaseException):
                kept(ref, row.session_id)
                continue
            try:
                store.check_deletable(ref)  # one it may not delete is not archived either
                version = None  # without an archive, nothing read: nothing to compare
                if archived is not None:
                    from mofa.documents import json_export

                    session, version = store.load_version(ref)
                    archived.add(session.session_id, session.agent, json_export(session))
            except Exception as error:
                kept(error, row.session_id)
            else:
                going.append((row, ref))
                versions.append(version)
            if progress:
                progress(done, len(rows))
    pruned, pruned_messages = 0, 0
    outcomes = store.delete_many([ref for _, ref in going], versions)
    for (row, _ref), failed in zip(going, outcomes, strict=True):
        if failed is not None:
            kept(failed, row.session_id)
        else:
            pruned += 1
            pruned_messages += row.message_count
    console.success(
        f"✓ Pruned {counted(pruned, 'session')} ({counted(pruned_messages, 'message')})"
    )
    if failures:
        raise CliError(f"{counted(failures, 'session')} could not be pruned", ExitStatus.FAILED)


def _dry_run(rows, archive: str | None) -> None:
    """Each id that would go (its origin, when the store holds several, as `list` shows it),
    and with an archive, the file it would be archived to."""
    if archive is not None:
        from mofa.archives import planned_file
    for row in rows:
        origin = getattr(row, "origin", None)
        line = f"{row.session_id} (origin {origin})" if origin else row.session_id
        if archive is not None:
            line += f" → {planned_file(archive, row.session_id, row.agent)}"
        console.result(line)


class _opened_archive:
    """The archive at `path` opened for the prune (None without one), closed after it."""

    def __init__(self, path: str | None, root: str | None):
        self.path, self.root, self.archive = path, root, None

    def __enter__(self):
        if self.path is not None:
            from mofa.archives import Archive

            self.archive = Archive.open(self.path, self.root)
        return self.archive

    def __exit__(self, *exc_info) -> None:
        if self.archive is not None:
            self.archive.close()
