"""The one place where failures become exit statuses: `MofaGroup.invoke` wraps every command."""

from __future__ import annotations

import errno
import os
from enum import IntEnum

import click

from mofa.cli.console import error_line
from mofa.cli.lazy import LazyGroup
from mofa.errors import MofaError


class ExitStatus(IntEnum):
    SUCCESS = 0
    NOT_FOUND = 1  # also an invalid or ambiguous id, a bad query, a failed verify
    PERMISSION_DENIED = 2  # also command-line usage errors and refused paths, as click does
    FAILED = 3  # an I/O error, an unreadable session file, a query stopped by its timeout
    INTERRUPTED = 130  # Ctrl-C, as a shell reports a command killed by SIGINT


def _statuses() -> list:
    """(exception class, exit status), the first match wins. mofa.errors is imported when a
    command fails, not by every command."""
    from mofa import errors

    return [
        (errors.InvalidSessionId, ExitStatus.NOT_FOUND),
        (errors.SessionNotFound, ExitStatus.NOT_FOUND),
        (errors.AmbiguousSessionId, ExitStatus.NOT_FOUND),
        (errors.SessionExists, ExitStatus.NOT_FOUND),
        (errors.OriginTaken, ExitStatus.NOT_FOUND),
        (errors.UnstorableSession, ExitStatus.NOT_FOUND),
        (errors.RefusedInput, ExitStatus.PERMISSION_DENIED),
        (errors.ReadOnlySession, ExitStatus.PERMISSION_DENIED),
        (errors.Unsupported, ExitStatus.PERMISSION_DENIED),
        (errors.InvalidStoreLocation, ExitStatus.PERMISSION_DENIED),
        (errors.SessionsRootMissing, ExitStatus.NOT_FOUND),
        (errors.QueryTimeout, ExitStatus.FAILED),
        (errors.QueryTooLarge, ExitStatus.FAILED),
        (errors.QueryError, ExitStatus.NOT_FOUND),
        (errors.SessionPermissionError, ExitStatus.PERMISSION_DENIED),
        (errors.RefusedPath, ExitStatus.PERMISSION_DENIED),
        (errors.InvalidTimeSpec, ExitStatus.PERMISSION_DENIED),  # bad input: a usage error
        (errors.InvalidSearchQuery, ExitStatus.PERMISSION_DENIED),
        (errors.CorruptSession, ExitStatus.FAILED),
        (errors.SessionChanged, ExitStatus.FAILED),
        (errors.StoreError, ExitStatus.FAILED),
        (errors.IndexUnavailable, ExitStatus.FAILED),
        (errors.StoreUnavailable, ExitStatus.FAILED),
    ]


class CliError(click.ClickException):
    """A failure shown as one line on stderr, ending the command with `exit_code`."""

    def __init__(self, message: str, exit_code: int = ExitStatus.FAILED):
        super().__init__(message)
        self.status = int(exit_code)

    @property  # click reads `exit_code`, a class-wide constant on its own exceptions
    def exit_code(self) -> int:  # type: ignore[override]  # per instance here: one per failure
        return self.status

    def show(self, file=None) -> None:

        error_line(self.format_message())


def status_for(error: MofaError) -> ExitStatus:
    for kind, status in _statuses():
        if isinstance(error, kind):
            return status
    return ExitStatus.FAILED


def cli_error(error: BaseException) -> CliError | None:
    """The CliError an exception of the library or the OS means; None for a bug."""

    if isinstance(error, MofaError):
        return CliError(str(error), status_for(error))
    if isinstance(error, PermissionError):
        return CliError(
            f"permission denied: {error.filename or error}", ExitStatus.PERMISSION_DENIED
        )
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        return CliError(f"{where}{error.strerror or error}", ExitStatus.FAILED)
    return None


def is_closed_pipe(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in (errno.EPIPE, errno.ECONNRESET)


def outcome_of(error: Exception) -> click.exceptions.Exit | CliError | None:
    """How a failure ends the command: quietly for a closed pipe (`| head`: the reader has
    all it wants), else as `cli_error` says; None for a bug."""
    if is_closed_pipe(error):
        silence_stdout()
        return click.exceptions.Exit(ExitStatus.SUCCESS)
    return cli_error(error)


def silence_stdout() -> None:
    """Point stdout at /dev/null: what is still buffered for a closed pipe goes nowhere, and
    the interpreter's last flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass


class MofaGroup(LazyGroup):
    """The `mofa` group: every command runs inside its `invoke`, so this is where the library's
    exceptions, a closed pipe and Ctrl-C end a command with their exit status."""

    def invoke(self, ctx: click.Context):
        outcome: click.exceptions.Exit | CliError | None
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            click.echo(err=True)  # end the line ^C was echoed on; and no "Aborted!"
            outcome = click.exceptions.Exit(ExitStatus.INTERRUPTED)
        except Exception as error:
            outcome = outcome_of(error)
            if outcome is None:
                raise
        # Raised out here, the outcome holds no reference to the failed command's frames: its
        # open cursors are closed now, before click closes the index (ctx.call_on_close).
        raise outcome
