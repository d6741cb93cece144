"""The library's failures: small named exceptions that the CLI maps to exit statuses."""

from __future__ import annotations


class MofaError(Exception):
    """Base of every failure the library reports to its callers."""


class InvalidSessionId(MofaError):
    """The id is malformed or could name a path outside the sessions root."""


class SessionNotFound(MofaError):
    """No session has this id."""


class AmbiguousSessionId(MofaError):
    """A short id names sessions of several agents."""

    def __init__(self, short_id: str, candidates: list[str]):
        self.short_id = short_id
        self.candidates = candidates
        shown = ", ".join(candidates[:10])
        more = f" and {len(candidates) - 10} more" if len(candidates) > 10 else ""
        super().__init__(f"session id {short_id!r} is ambiguous; use one of: {shown}{more}")


class CorruptSession(MofaError):
    """A session file exists but cannot be read as a session."""

    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class SessionPermissionError(MofaError):
    """The operating system refused access to a session file or directory."""


class StoreError(MofaError):
    """An I/O operation on the sessions root failed."""


class ArchiveFull(StoreError):
    """The file system of an archive takes no more: it is full, or the user's quota is."""


class IndexFailed(MofaError):
    """An operation on the SQLite index failed (a full disk, a lock held too long, ...)."""


class IndexUnavailable(MofaError):
    """The SQLite index cannot be opened or created at its location."""


class QueryError(MofaError):
    """A user's SQL was refused or failed."""


class SessionExists(MofaError):
    """A session with this id is already stored (import without --replace)."""


class SessionChanged(MofaError):
    """A session was written to since it was read (and archived): it is kept, not deleted."""


class SessionFileTaken(SessionExists):
    """The file a session would be written to holds another session (two MoFA keys of one
    file name)."""


class UnstorableSession(MofaError):
    """A files root cannot hold this session so that it reads back the same."""


class RefusedInput(MofaError):
    """Input the tool will not read (a YAML anchor or alias, which no export holds)."""


class ReadOnlySession(MofaError):
    """The store holds this session but may not change it (e.g. mirrored from another host)."""


class Unsupported(MofaError):
    """The store cannot do what was asked (it has no index to rebuild, no SQL, ...)."""


class InvalidStoreLocation(MofaError):
    """A store URL or sessions root that names no usable store."""


class InvalidTimeSpec(MofaError):
    """A time (`--since`, `--until`, `--before`) or duration (`--older-than`) cannot be read."""


class InvalidSearchQuery(MofaError):
    """A full-text search query cannot be turned into a search."""


class QueryTimeout(QueryError):
    """A user's SQL ran longer than its timeout and was stopped."""


class RefusedPath(MofaError):
    """An output path the tool will not write (inside the sessions root)."""


class ArchiveRefused(RefusedPath):
    """An archive directory that takes no file at all: its manifest is a symlink or not a
    regular file, or cannot be created or written."""


class SessionsRootMissing(MofaError):
    """A sessions root named explicitly (option or variable) does not exist."""


class StoreUnavailable(MofaError):
    """A store cannot be reached or used: its server is down, its URL or credentials are wrong,
    its driver is not installed, or its schema is newer than this program."""


class QueryTooLarge(QueryError):
    """A value or row of a user's SQL too large to print within MOFA_QUERY_MAX_BYTES."""


class OriginTaken(MofaError):
    """A mirror's origin already belongs to another root: mirroring under it would delete
    that root's sessions from the database."""
