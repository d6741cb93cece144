"""`mofa session prune`: delete old sessions in one go, with a dry run and an archive."""

from __future__ import annotations

import click

from mofa.cli import console
from mofa.cli.app import App, pass_app
from mofa.cli.errors import CliError, ExitStatus, cli_error
from mofa.cli.prompt import confirmed


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
    help="Export each session to DIR/<agent>/<session>.json before deleting it.",
)
@click.option("--force", is_flag=True, help="Skip the confirmation prompt.")
@pass_app
def prune(app: App, older_than, before, agent, statuses, dry_run, archive, force):
    """Delete the sessions created before a time, all at once.

    One prompt names how many sessions (and messages) go; --force skips it. With --archive,
    a session whose export fails is kept. Agent directories left empty are removed.

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
    if archive is not None:
        from mofa.cli.exporting import check_outside_root

        check_outside_root(archive, app.root)
    rows = list(store.list(SessionFilter(agent=agent, until=cutoff, statuses=tuple(statuses))))
    messages = sum(row.message_count for row in rows)
    if dry_run:
        for row in rows:  # a store of several origins names each row's, as `list` does
            origin = getattr(row, "origin", None)
            console.result(f"{row.session_id} (origin {origin})" if origin else row.session_id)
        console.status(
            f"Would prune {len(rows)} sessions ({messages} messages); nothing was deleted."
        )
        return
    if not rows:
        console.status("No sessions to prune.")
        return
    if not force:
        console.status(
            f"→ Pruning {len(rows)} sessions ({messages} messages) created before {cutoff}"
        )
        console.status("This action cannot be undone.\n")
        if not confirmed(f"Prune {len(rows)} sessions? [y/N]: "):
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

    # One refresh for every id, each archived first (a session whose archive fails is kept),
    # then every file deleted and their rows dropped in one transaction.
    going = []
    progress = console.progress_reporter("Archiving sessions") if archive is not None else None
    for done, (row, ref) in enumerate(zip(rows, store.resolve_rows(rows)), 1):
        if isinstance(ref, BaseException):
            kept(ref, row.session_id)
            continue
        try:
            store.check_deletable(ref)  # one it may not delete is not archived either
            if archive is not None:
                _archive(store.load(ref), archive)
        except Exception as error:
            kept(error, row.session_id)
        else:
            going.append((row, ref))
        if progress:
            progress(done, len(rows))
    pruned, pruned_messages = 0, 0
    for (row, ref), error in zip(going, store.delete_many([ref for _, ref in going])):
        if error is not None:
            kept(error, row.session_id)
        else:
            pruned += 1
            pruned_messages += row.message_count
    console.success(f"✓ Pruned {pruned} sessions ({pruned_messages} messages)")
    if failures:
        raise CliError(f"{failures} sessions could not be pruned", ExitStatus.FAILED)


def _archive(session, directory: str) -> None:
    """DIR/<agent>/<session>.json, each part made a plain file name (MoFA's own rule)."""
    import os

    from mofa.cli.exporting import EXPORT_PREFIX
    from mofa.documents import export_document, to_json
    from mofa.ids import mofa_file_stem
    from mofa.stores.writing import write_atomically

    agent = mofa_file_stem(session.agent) or "_"
    name = mofa_file_stem(session.name) or "_"
    path = os.path.join(directory, agent, name + ".json")
    write_atomically(path, to_json(export_document(session)).encode("utf-8"), prefix=EXPORT_PREFIX)
