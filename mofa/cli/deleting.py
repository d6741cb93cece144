"""`delete`: one session as the reference page shows it, or many after one prompt."""

from __future__ import annotations

import sys

import click

from mofa.cli import console
from mofa.cli.app import App, pass_app
from mofa.cli.errors import CliError, ExitStatus, cli_error
from mofa.cli.options import complete_session_ids
from mofa.cli.prompt import confirmed
from mofa.cli.suggesting import resolve_or_suggest, with_suggestions
from mofa.errors import CorruptSession, MofaError
from mofa.plurals import counted


@click.command("delete")
@click.argument(
    "session_ids",
    metavar="SESSION_ID...",
    nargs=-1,
    required=True,
    shell_complete=complete_session_ids,
)
@click.option("--force", is_flag=True, help="Skip the confirmation prompt.")
@click.option(
    "-0",
    "--null",
    is_flag=True,
    help="With `-`: the ids on standard input are separated by NUL characters, not lines"
    " (an id may then hold a newline).",
)
@click.option(
    "--origin",
    metavar="NAME",
    help="The session mirrored from this host (mofa-indexd --origin), when several hold its id.",
)
@pass_app
def delete(app: App, session_ids, force, null, origin):
    """Delete sessions and their conversation history.

    Several ids, or `-` to read them from standard input, one per line (with -0, separated by
    NUL characters), are deleted in one go after one prompt (then answered on the terminal).
    Anything but `y` or `yes`, or the end of input, cancels (exit status 0). Exit statuses: 0
    all deleted or cancelled, else the first failing id's: 1 not found, 2 permission denied,
    3 failed.

    \b
    Examples:
      mofa session delete agent-001:session-123
      mofa session delete session-123 session-124 --force
      mofa session list --status empty -f json | jq -r '.[].session_id' \\
        | mofa session delete - --force
      mofa session list -f json | jq -j '.[].session_id + "\\u0000"' \\
        | mofa session delete - -0
    """
    if null and "-" not in session_ids:
        raise click.UsageError("-0/--null reads the ids from standard input: give `-` too")
    items, answers = wanted_ids(session_ids, null)
    store = app.store()
    if len(items) == 1 and isinstance(items[0], str) and session_ids != ("-",):
        delete_one(store, items[0], force, answers, origin)
    else:
        delete_many(store, items, force, answers, origin)


def wanted_ids(
    arguments: tuple[str, ...], null: bool = False
) -> tuple[list[str | CliError], object]:
    """The ids to delete (`read_ids`) and where the prompt's answer comes from (the terminal
    when standard input held the ids)."""
    return read_ids(arguments, null), _terminal() if "-" in arguments else sys.stdin


def read_ids(arguments: tuple[str, ...], null: bool = False) -> list[str | CliError]:
    """The ids the arguments name, each once, in order (`-` reads standard input, one per
    line, or with `null` NUL-separated), an id that is not valid UTF-8 standing as its error."""
    items: list[str | CliError] = []
    for argument in arguments:
        if argument == "-":
            items.extend(_stdin_ids(sys.stdin.buffer.read(), b"\0" if null else b"\n"))
        else:
            items.append(argument)
    seen: set[str] = set()
    unique: list[str | CliError] = []
    for item in items:
        if isinstance(item, str):
            if item in seen:
                continue
            seen.add(item)
        unique.append(item)
    return unique


def _stdin_ids(data: bytes, separator: bytes = b"\n") -> list[str | CliError]:
    """Each line (or NUL-separated item) exactly as written but for its final separator (a
    `\r` is part of the id); empty ones are no ids."""
    items: list[str | CliError] = []
    for number, line in enumerate(data.split(separator), 1):
        if not line:
            continue
        try:
            items.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            shown = line.decode("utf-8", "backslashreplace")
            items.append(
                CliError(
                    f"line {number} of standard input is not valid UTF-8: {shown}",
                    ExitStatus.PERMISSION_DENIED,
                )
            )
    return items


def _terminal():
    try:
        return open("/dev/tty", encoding="utf-8", errors="replace")
    except OSError:
        return None  # no terminal: the answer is the end of input, a no


def delete_one(store, text: str, force: bool, answers, origin: str | None = None) -> None:

    ref = resolve_or_suggest(store, text, origin)
    store.check_deletable(ref)  # a refused delete says so before any progress line
    console.status(f"→ Deleting session: {ref.session_id}")
    if not force:
        try:
            count = store.load(ref).message_count
            console.status(f"\nSession contains {counted(count, 'message')}.")
        except CorruptSession as error:
            console.status(f"\nThe session file cannot be read ({error.reason}).")
        except MofaError as error:  # unreadable for another reason: the prompt still decides
            console.status(f"\nThe session file cannot be read ({error}).")
        console.status("This action cannot be undone.\n")
        if not confirmed("Delete session? [y/N]: ", answers):
            console.status("Cancelled: nothing was deleted.")
            return
        console.status("")
    console.status("  Removing session data...")
    store.delete(ref)
    console.success("✓ Session deleted successfully")


def delete_many(
    store, items: list[str | CliError], force: bool, answers, origin: str | None = None
) -> None:
    """Resolve every id first, then one prompt, then delete; one error line per failure. A
    session named twice (by its full and its short id) is deleted once."""
    first_failure: CliError | None = None

    def failed(error: BaseException, text: str) -> None:
        nonlocal first_failure
        failure = cli_error(error)
        if failure is None:
            raise error
        console.error_line(
            failure.format_message()
            if text in str(error)
            else f"{text}: {failure.format_message()}"
        )
        first_failure = first_failure or failure

    texts = [item for item in items if isinstance(item, str)]
    resolved = iter(
        store.resolve_many(texts)
        if origin is None
        else [_resolved(store, text, origin) for text in texts]
    )
    refs = []
    seen: set[tuple[str, str]] = set()
    for item in items:
        if isinstance(item, CliError):
            console.error_line(item.format_message())
            first_failure = first_failure or item
            continue
        outcome = next(resolved)
        if not isinstance(outcome, BaseException):
            key = (outcome.session_id, repr(outcome.handle))
            if key in seen:
                continue
            seen.add(key)
            try:
                store.check_deletable(outcome)
            except MofaError as refused:
                outcome = refused
        if isinstance(outcome, BaseException):
            failed(with_suggestions(store, outcome, item), item)
        else:
            refs.append(outcome)
    if refs:
        console.status(f"→ Deleting {counted(len(refs), 'session')}")
        if not force:
            console.status("This action cannot be undone.\n")
            if not confirmed(f"Delete {counted(len(refs), 'session')}? [y/N]: ", answers):
                console.status("Cancelled: nothing was deleted.")
                return
        deleted = 0
        for ref, error in zip(refs, store.delete_many(refs), strict=True):
            if error is None:
                deleted += 1
            else:
                failed(error, ref.session_id)
        console.success(f"✓ Deleted {counted(deleted, 'session')}")
    if first_failure is not None:
        click.get_current_context().exit(first_failure.exit_code)


def _resolved(store, text: str, origin: str):

    try:
        return store.resolve_origin(text, origin)
    except MofaError as error:
        return error
