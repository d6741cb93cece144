"""`delete`: one session as the reference page shows it, or many after one prompt."""

from __future__ import annotations

import sys

import click

from mofa.cli import console
from mofa.cli.errors import CliError, cli_error
from mofa.cli.prompt import confirmed


def wanted_ids(arguments: tuple[str, ...]) -> tuple[list[str], object]:
    """The ids to delete (each once, in order; `-` reads standard input, one per line) and
    where the prompt's answer comes from (the terminal when standard input held the ids)."""
    texts: list[str] = []
    answers = sys.stdin
    for argument in arguments:
        if argument == "-":
            texts.extend(line.rstrip("\r\n") for line in sys.stdin if line.strip())
            answers = _terminal()
        else:
            texts.append(argument)
    seen: set[str] = set()
    return [text for text in texts if not (text in seen or seen.add(text))], answers


def _terminal():
    try:
        return open("/dev/tty", encoding="utf-8", errors="replace")
    except OSError:
        return None  # no terminal: the answer is the end of input, a no


def delete_one(store, text: str, force: bool, answers, origin: str | None = None) -> None:
    from mofa.errors import CorruptSession, MofaError

    ref = store.resolve_origin(text, origin)
    console.status(f"→ Deleting session: {ref.session_id}")
    if not force:
        try:
            count = store.load(ref).message_count
            console.status(f"\nSession contains {count} messages.")
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


def delete_many(store, texts: list[str], force: bool, answers, origin: str | None = None) -> None:
    """Resolve every id first, then one prompt, then delete; one error line per failure."""
    first_failure: CliError | None = None

    def failed(error: BaseException, text: str) -> None:
        nonlocal first_failure
        failure = cli_error(error)
        if failure is None:
            raise error
        console.error_line(failure.format_message() if text in str(error) else f"{text}: {failure.format_message()}")
        first_failure = first_failure or failure

    refs = []
    outcomes = store.resolve_many(texts) if origin is None else [
        _resolved(store, text, origin) for text in texts]
    for text, outcome in zip(texts, outcomes):
        if isinstance(outcome, BaseException):
            failed(outcome, text)
        else:
            refs.append(outcome)
    if refs:
        console.status(f"→ Deleting {len(refs)} sessions")
        if not force:
            console.status("This action cannot be undone.\n")
            if not confirmed(f"Delete {len(refs)} sessions? [y/N]: ", answers):
                console.status("Cancelled: nothing was deleted.")
                return
        deleted = 0
        for ref, error in zip(refs, store.delete_many(refs)):
            if error is None:
                deleted += 1
            else:
                failed(error, ref.session_id)
        console.success(f"✓ Deleted {deleted} sessions")
    if first_failure is not None:
        click.get_current_context().exit(first_failure.exit_code)


def _resolved(store, text: str, origin: str):
    from mofa.errors import MofaError

    try:
        return store.resolve_origin(text, origin)
    except MofaError as error:
        return error
