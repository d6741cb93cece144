"""The one place where failures become exit statuses."""

from __future__ import annotations

import contextlib
import sys
from enum import IntEnum

import click

from mofa import errors


class ExitStatus(IntEnum):
    SUCCESS = 0
    NOT_FOUND = 1  # also an invalid or ambiguous id, a bad query, a failed verify
    PERMISSION_DENIED = 2  # also command-line usage errors, as click does
    FAILED = 3  # an I/O error, an unreadable session file


_STATUS_OF = [
    (errors.InvalidSessionId, ExitStatus.NOT_FOUND),
    (errors.SessionNotFound, ExitStatus.NOT_FOUND),
    (errors.AmbiguousSessionId, ExitStatus.NOT_FOUND),
    (errors.SessionExists, ExitStatus.NOT_FOUND),
    (errors.ReadOnlySession, ExitStatus.PERMISSION_DENIED),
    (errors.Unsupported, ExitStatus.PERMISSION_DENIED),
    (errors.InvalidStoreLocation, ExitStatus.PERMISSION_DENIED),
    (errors.QueryError, ExitStatus.NOT_FOUND),
    (errors.SessionPermissionError, ExitStatus.PERMISSION_DENIED),
    (errors.InvalidTimeSpec, ExitStatus.PERMISSION_DENIED),  # bad input: a usage error
    (errors.InvalidSearchQuery, ExitStatus.PERMISSION_DENIED),
    (errors.CorruptSession, ExitStatus.FAILED),
    (errors.StoreError, ExitStatus.FAILED),
    (errors.IndexUnavailable, ExitStatus.FAILED),
    (errors.StoreUnavailable, ExitStatus.FAILED),
]


class CliError(click.ClickException):
    """A failure shown as one line on stderr, ending the command with `exit_code`."""

    def __init__(self, message: str, exit_code: int = ExitStatus.FAILED):
        super().__init__(message)
        self.exit_code = int(exit_code)

    def show(self, file=None) -> None:
        from mofa.cli.console import error_line

        error_line(self.format_message())


def status_for(error: errors.MofaError) -> ExitStatus:
    for kind, status in _STATUS_OF:
        if isinstance(error, kind):
            return status
    return ExitStatus.FAILED


@contextlib.contextmanager
def mapped_errors():
    """Turn the library's exceptions (and the OS's, and SQLite's) into CliError."""
    try:
        yield
    except errors.MofaError as error:
        raise CliError(str(error), status_for(error)) from None
    except PermissionError as error:
        raise CliError(f"permission denied: {error.filename or error}",
                       ExitStatus.PERMISSION_DENIED) from None
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        raise CliError(f"{where}{error.strerror or error}", ExitStatus.FAILED) from None
    except Exception as error:
        sqlite3 = sys.modules.get("sqlite3")  # not imported by commands that need no index
        if sqlite3 is not None and isinstance(error, sqlite3.Error):
            raise CliError(f"index error: {error}", ExitStatus.FAILED) from None
        raise
