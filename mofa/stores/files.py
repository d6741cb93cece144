"""The files store: sessions read straight from the files under a root, with no index.

An id is looked up, never turned into a path except by a rule that cannot leave the root: a
per-agent id's two validated parts, or a MoFA file name (one plain component) found in the
root. Every file is opened relative to its directory's descriptor without following links,
so a symlink swapped in after the lookup is never followed.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import os
from collections.abc import Iterator
from stat import S_ISDIR, S_ISREG
from typing import TYPE_CHECKING, NamedTuple, Protocol

from mofa.errors import (
    AmbiguousSessionId,
    CorruptSession,
    InvalidSessionId,
    SessionChanged,
    SessionExists,
    SessionNotFound,
    SessionPermissionError,
    StoreError,
)
from mofa.ids import is_safe_name, parse_session_id
from mofa.reading import (
    NO_FOLLOW_READ,
    claim_rank,
    duplicate_warning,
    load_path,
    newest,
    parse_file,
    passes,
    read_with_stat,
    row_of,
    session_claim,
    wide_row,
)
from mofa.stores.base import ALL, SessionFilter, SessionRef, SessionStore, Warn

if TYPE_CHECKING:
    from mofa.session import Session
    from mofa.stores.results import SearchHit

# What walks and parses files (mofa.tree, mofa.session, mofa.layouts) is imported by the
# functions that do so: the index's store holds one of these, and a listing that mofa-indexd
# vouches for reads no file (every module costs start-up time).


class FileHandle(NamedTuple):
    """Where a files store found a session: one directory under the root ('' for the root's
    JSONL files) and one file name in it, each a single validated component; and the
    directory's identity when it was found, so that a directory swapped in later is refused."""

    layout: str
    directory: str
    file: str
    dir_identity: tuple[int, int] | None = None


class FileVersion(NamedTuple):
    """A session file as it was read: its identity, times and size, and its content's digest.
    Any write since (an append, a rewrite, a rename onto it) changes one of them."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int
    sha256: str

    @classmethod
    def of(cls, st: os.stat_result, data: bytes) -> FileVersion:
        import hashlib

        return cls(
            st.st_dev,
            st.st_ino,
            st.st_size,
            st.st_mtime_ns,
            st.st_ctime_ns,
            hashlib.sha256(data).hexdigest(),
        )


def _os_error(error: OSError, what: str) -> Exception:

    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return SessionPermissionError(f"permission denied: {what}")
    return StoreError(f"cannot access {what}: {error.strerror or error}")


class JsonlClaims(Protocol):
    """What an index answers better than a scan: which MoFA files claim an id or a session
    part; and what it must hear of: the files this store wrote. A files store without one
    reads every MoFA file of the root to know."""

    def look_again(self) -> None:
        """A new look-up starts: the files may have changed since the last one."""

    def jsonl_refs(self, full_id: str | None = None, name: str | None = None) -> list[SessionRef]:
        """As `FileSessionStore.jsonl_refs`."""
        ...

    def wrote(self, directory: str, file: str) -> None:
        """This store wrote `file` of `directory` (`import`, `save`, `append`)."""


class FileSessionStore(SessionStore):
    """Sessions read straight from the files under `root`, with no index (`claims`: where the
    MoFA files' ids are looked up instead of reading every file)."""

    kind = "files"

    def __init__(self, root: str, warn: Warn | None = None, claims: JsonlClaims | None = None):
        self.root = root
        self.warn = warn
        self.claims = claims

    # -- listing ---------------------------------------------------------------------------
    def iter_sessions(self, agent: str | None = None) -> Iterator[Session]:
        """Every readable session (of `agent`); `warn` hears of each file that is not."""
        from mofa import tree

        skipped: list[str] = []
        agents = None if agent is None else [agent] if tree.is_agent_name(agent) else []
        places = tree.session_files(self.root, agents, skipped)
        if self.warn is not None:
            for text in skipped:
                self.warn(text)
        winners: dict[str, Session] = {}
        for directory, files in places:
            for stat in files:
                try:
                    session = load_path(self.root, directory, stat)
                except (CorruptSession, SessionPermissionError, StoreError) as error:
                    if self.warn:
                        self.warn(str(error))
                    continue
                except SessionNotFound:
                    continue
                if agent is not None and session.agent != agent:
                    continue
                other = winners.get(session.session_id)
                if other is None:
                    winners[session.session_id] = session
                    continue
                kept, dropped = sorted((other, session), key=session_claim)
                winners[session.session_id] = kept
                if self.warn:
                    self.warn(duplicate_warning(dropped.path, kept.path, session.session_id))
        yield from winners.values()

    def list(self, wanted: SessionFilter = ALL, wide: bool = False) -> builtins.list:
        rows = [
            wide_row(row, session) if wide else row
            for session in self.iter_sessions(wanted.agent)
            if passes(row := row_of(session), wanted, session.tags)
        ]
        return newest(rows, wanted.limit, wanted.sort)

    def search(
        self, query: str, wanted: SessionFilter = ALL, role: str | None = None
    ) -> builtins.list[SearchHit]:
        from mofa.searching import search_sessions
        from mofa.stores.results import SearchHit

        sessions = (
            session
            for session in self.iter_sessions(wanted.agent)
            if passes(
                row_of(session), SessionFilter(wanted.agent, None, wanted.since, wanted.until)
            )
        )
        hits = [
            SearchHit(
                session.session_id,
                session.agent,
                row_of(session).created_at,
                matches,
                snippet,
                first,
            )
            for session, matches, snippet, first in search_sessions(sessions, query, role)
        ]
        hits.sort(key=lambda hit: (-hit.matches, _descending(hit.created_at or ""), hit.session_id))
        return hits if wanted.limit is None else hits[: wanted.limit]

    # -- resolving ids ---------------------------------------------------------------------
    def resolve(self, text: str) -> SessionRef:

        if self.claims is not None:
            self.claims.look_again()  # each look-up answers from the files as they are now
        if ":" not in text:
            return self._resolve_short(text)
        ref = self._agent_json_ref(text)
        if ref is None:
            ref = self._jsonl_ref(text)
        if ref is None:
            if _per_agent_parts(text) is None:
                parse_session_id(text)  # raises InvalidSessionId with the reason
            raise SessionNotFound(f"session not found: {text}")
        return ref

    def _resolve_short(self, text: str) -> SessionRef:
        from mofa import tree

        if not text:
            raise InvalidSessionId("invalid session id '': it is empty")
        matches: dict[str, SessionRef] = {}
        if is_safe_name(text):
            for agent in tree.scan_root(self.root).agents:
                ref = self._agent_json_ref(f"{agent}:{text}")
                if ref is not None:
                    matches[ref.session_id] = ref
        for ref in self.jsonl_refs(name=text):
            matches.setdefault(ref.session_id, ref)
        if text in matches:  # an id `list` prints names its session, verbatim (a MoFA key)
            return matches[text]
        if not matches:
            exact = self._jsonl_ref(text)  # a MoFA key without ':' is an id of its own
            if exact is not None:
                return exact
            if not is_safe_name(text):
                parse_session_id(text)  # raises InvalidSessionId with the reason
            raise SessionNotFound(f"session not found: {text}")
        if len(matches) > 1:
            raise AmbiguousSessionId(text, sorted(matches))
        return next(iter(matches.values()))

    def _agent_json_ref(self, text: str) -> SessionRef | None:
        """The per-agent file of this id. An agent directory may hold ':' itself, so every
        split is tried, first ':' first (the order `claim_rank` gives equal claims)."""
        for agent, name in _per_agent_splits(text):
            ref = self._agent_json_at(text, agent, name)
            if ref is not None:
                return ref
        return None

    def _agent_json_at(self, text: str, agent: str, name: str) -> SessionRef | None:
        from mofa import tree
        from mofa.session import JSON_LAYOUT, JSON_SUFFIX

        directory = os.path.join(self.root, agent)
        try:
            dir_stat = os.lstat(directory)
        except OSError:
            return None
        if (
            not S_ISDIR(dir_stat.st_mode)
            or tree.regular_file_stat(os.path.join(directory, name + JSON_SUFFIX)) is None
        ):
            return None
        handle = FileHandle(
            JSON_LAYOUT, agent, name + JSON_SUFFIX, (dir_stat.st_dev, dir_stat.st_ino)
        )
        return SessionRef(text, agent, name, handle)

    def _jsonl_ref(self, session_id: str) -> SessionRef | None:
        """The MoFA file that holds `session_id`: by the key's own file name first, else the
        first file in byte order whose header has that key, else a file that cannot be read
        and whose name gives that id."""
        matches = self.jsonl_refs(full_id=session_id)
        return matches[0] if matches else None

    def jsonl_refs(
        self, full_id: str | None = None, name: str | None = None
    ) -> builtins.list[SessionRef]:
        """MoFA sessions with this id, or whose session part is `name`, winners only, best
        claim first. Without an index the only way to know a file's key is to read it."""
        if self.claims is not None:
            return self.claims.jsonl_refs(full_id, name)
        from mofa import tree
        from mofa.session import JSONL_LAYOUT, JSONL_SUFFIX

        found: dict[str, list[tuple[tuple, SessionRef]]] = {}
        for stat in sorted(
            tree.scan_root(self.root).jsonl, key=lambda stat: os.fsencode(stat.name)
        ):
            stem = stat.name[: -len(JSONL_SUFFIX)]
            try:
                session = load_path(self.root, "", stat)
            except (CorruptSession, SessionPermissionError, StoreError):
                session = None
            except SessionNotFound:
                continue
            if session is None:
                from mofa.layouts import jsonl_identity

                agent, part = jsonl_identity(stem, {})
                session_id = stem
            else:
                session_id, agent, part = session.session_id, session.agent, session.name
            if session_id != full_id and (name is None or part != name):
                continue
            ref = SessionRef(session_id, agent, part, FileHandle(JSONL_LAYOUT, "", stat.name))
            # A file that cannot be read loses to every file that can.
            rank = (
                claim_rank(session_id, False, stat.name, stat.name)
                if session is not None
                else (3, os.fsencode(stat.name))
            )
            found.setdefault(session_id, []).append((rank, ref))
        winners = []
        for session_id, claims in found.items():
            if self._agent_json_ref(session_id) is not None:
                continue  # a per-agent file holds this id: it wins
            winners.append(min(claims, key=lambda claim: claim[0])[1])
        return sorted(winners, key=lambda ref: ref.session_id)

    # -- reading ---------------------------------------------------------------------------
    def path_of(self, handle: FileHandle) -> str:
        if handle.directory:
            return os.path.join(self.root, handle.directory, handle.file)
        return os.path.join(self.root, handle.file)

    def load(self, ref: SessionRef) -> Session:
        handle = _file_handle(ref)
        path = self.path_of(handle)
        try:
            data, st = read_with_stat(path, True, after=False)  # no symlink, no FIFO
        except SessionNotFound:
            raise SessionNotFound(f"session not found: {ref.session_id}") from None
        return parse_file(handle.layout, path, ref.agent, ref.name, data, st.st_mtime_ns)

    def load_version(self, ref: SessionRef) -> tuple[Session, FileVersion]:
        """The session, and its file as it was read (what `delete_unchanged` compares)."""
        handle = _file_handle(ref)
        path = self.path_of(handle)
        data, st = read_with_stat(path, True)
        session = parse_file(handle.layout, path, ref.agent, ref.name, data, st.st_mtime_ns)
        return session, FileVersion.of(st, data)

    # -- writing ---------------------------------------------------------------------------
    def delete(self, ref: SessionRef) -> None:
        self._delete(ref, None)

    def delete_unchanged(self, ref: SessionRef, version: object) -> None:
        self._delete(ref, version)

    def _delete(self, ref: SessionRef, version: object) -> None:

        handle = _file_handle(ref)
        with _directory(self.root, handle, ref.session_id) as dir_fd:
            if version is not None:
                _check_unchanged(dir_fd, handle.file, self.path_of(handle), ref, version)
            try:
                st = os.stat(handle.file, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                raise SessionNotFound(f"session not found: {ref.session_id}") from None
            except OSError as error:
                raise _os_error(error, self.path_of(handle)) from None
            if not S_ISREG(st.st_mode):
                raise SessionNotFound(f"session not found: {ref.session_id} (not a regular file)")
            if isinstance(version, FileVersion) and (st.st_dev, st.st_ino) != version[:2]:
                raise _changed(ref)
            try:
                os.unlink(handle.file, dir_fd=dir_fd)
            except FileNotFoundError:
                raise SessionNotFound(f"session not found: {ref.session_id}") from None
            except OSError as error:
                raise _os_error(error, f"cannot delete {self.path_of(handle)}") from None
        if handle.directory:
            self._remove_if_empty(handle.directory)

    def _remove_if_empty(self, directory: str) -> None:
        """An agent directory left empty goes too (never the root)."""
        try:
            root_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            os.rmdir(directory, dir_fd=root_fd)
        except OSError:
            pass  # not empty, or not ours to remove: either way it stays
        finally:
            os.close(root_fd)

    def resolve_saved(self, session_id: str) -> SessionRef:
        """The file that holds exactly this id (a short id names no other session here)."""

        ref = self._exact_ref(session_id)
        if ref is None:
            raise SessionNotFound(f"session not found: {session_id}")
        return ref

    def _exact_ref(self, session_id: str) -> SessionRef | None:
        """The winning file of this very id: a per-agent file, else a MoFA file."""
        from mofa import tree

        if not tree.utf8_name(session_id):
            return None  # no file name, no header read as UTF-8, holds a lone surrogate
        if self.claims is not None:
            self.claims.look_again()  # a save looks at the files as they are now, as resolve does
        ref = self._agent_json_ref(session_id) if ":" in session_id else None
        return ref if ref is not None else self._jsonl_ref(session_id)

    def saving_many(self) -> contextlib.AbstractContextManager[None]:
        """Each file flushed before it is put in place; each directory once, at the end."""
        from mofa.stores.writing import writing_many

        return writing_many()

    def save(self, session_id: str, document: dict, replace: bool = False) -> SessionRef:
        """Write the session through the root's one writer (mofa.stores.writing): over the file
        that holds this id now when `replace`, so that every reader finds the new content."""
        from mofa import tree
        from mofa.stores.writing import Target, write_session

        if not isinstance(session_id, str) or not session_id:
            raise InvalidSessionId("invalid session id '': it is empty")
        if not tree.utf8_name(session_id):
            raise InvalidSessionId(
                f"session id {session_id!r} cannot be stored in a files root:"
                " it is not valid UTF-8 (it holds a lone surrogate)"
            )
        existing = self._exact_ref(session_id)
        if existing is not None and not replace:
            raise SessionExists(f"session {session_id!r} already exists (use --replace)")
        winner = None
        if existing is not None:
            handle = _file_handle(existing)
            winner = Target(handle.layout, handle.directory, handle.file)
        target = write_session(self.root, session_id, document, replace, winner)
        self._wrote(target.directory, target.file)
        return self.resolve_saved(session_id)

    def _wrote(self, directory: str, file: str) -> None:
        """This store wrote `file` of `directory`: an index that answers its claims learns of it."""
        if self.claims is not None:
            self.claims.wrote(directory, file)

    def append(self, ref: SessionRef, message: dict) -> None:
        from mofa.stores.writing import Target, append_message

        handle = _file_handle(ref)
        target = Target(handle.layout, handle.directory, handle.file)
        append_message(self.root, target, ref.session_id, message)
        self._wrote(handle.directory, handle.file)

    # -- upkeep ----------------------------------------------------------------------------
    def status(self) -> dict[str, object]:
        from mofa import tree

        return {
            "store": self.kind,
            "sessions_root": self.root,
            "files_on_disk": sum(
                len(files) for _, files in tree.session_files(self.root, skipped=[])
            ),
        }


def _changed(ref: SessionRef) -> Exception:

    return SessionChanged(
        f"session {ref.session_id} was written to since it was read; kept, not deleted"
    )


def _check_unchanged(dir_fd: int, name: str, path: str, ref: SessionRef, version) -> None:
    """Raise SessionChanged unless the file `name` is still the one `version` describes, with
    the same content; SessionNotFound when it is gone."""
    from mofa import tree

    if not isinstance(version, FileVersion):
        raise _changed(ref)
    try:
        fd = os.open(name, NO_FOLLOW_READ, dir_fd=dir_fd)
    except FileNotFoundError:
        raise SessionNotFound(f"session not found: {ref.session_id}") from None
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENXIO):
            raise _changed(ref) from None
        raise _os_error(error, path) from None
    with open(fd, "rb") as handle:
        st = os.fstat(fd)
        if not S_ISREG(st.st_mode) or FileVersion.of(st, b"")[:5] != version[:5]:
            raise _changed(ref)
        tree.check_size(path, st.st_size, tree.max_session_bytes())
        if FileVersion.of(st, handle.read(st.st_size + 1)) != version:
            raise _changed(ref)


def _descending(text: str) -> tuple:
    """A sort key that orders texts from the greatest (here: the newest time) down."""
    return tuple(-ord(char) for char in text)


def _per_agent_parts(text: str) -> tuple[str, str] | None:
    """The first (agent, session) split of `text` that can name a per-agent file, else None."""
    return next(_per_agent_splits(text), None)


def _per_agent_splits(text: str) -> Iterator[tuple[str, str]]:
    """Every (agent, session) split of `text` at a ':' whose two parts are safe names."""

    position = text.find(":")
    while position != -1:
        agent, name = text[:position], text[position + 1 :]
        if is_safe_name(agent) and is_safe_name(name):
            yield agent, name
        position = text.find(":", position + 1)


def _file_handle(ref: SessionRef) -> FileHandle:

    handle = ref.handle
    if (
        not isinstance(handle, FileHandle)
        or not is_safe_name(handle.file)
        or (handle.directory and not is_safe_name(handle.directory))
    ):
        raise SessionNotFound(f"session not found: {ref.session_id}")
    return handle


class _directory:
    """The session's directory opened without following a link, checked to be the one that
    was looked up; a context manager yielding its descriptor."""

    def __init__(self, root: str, handle: FileHandle, session_id: str):
        self.root = root
        self.handle = handle
        self.session_id = session_id
        self.fds: list[int] = []

    def __enter__(self) -> int:

        flags = os.O_RDONLY | os.O_DIRECTORY
        try:
            root_fd = os.open(self.root, flags)
        except FileNotFoundError:
            raise SessionNotFound(f"session not found: {self.session_id}") from None
        except OSError as error:
            raise _os_error(error, self.root) from None
        self.fds.append(root_fd)
        if not self.handle.directory:
            return root_fd
        try:
            dir_fd = os.open(self.handle.directory, flags | os.O_NOFOLLOW, dir_fd=root_fd)
        except FileNotFoundError:
            self.__exit__()
            raise SessionNotFound(f"session not found: {self.session_id}") from None
        except OSError as error:
            self.__exit__()
            if error.errno in (errno.ELOOP, errno.ENOTDIR):
                raise StoreError(
                    f"{os.path.join(self.root, self.handle.directory)} is no longer"
                    " the agent directory that was looked up; nothing deleted"
                ) from None
            raise _os_error(error, os.path.join(self.root, self.handle.directory)) from None
        self.fds.append(dir_fd)
        st = os.fstat(dir_fd)
        if (
            self.handle.dir_identity is not None
            and (st.st_dev, st.st_ino) != self.handle.dir_identity
        ):
            self.__exit__()
            raise StoreError(
                f"{os.path.join(self.root, self.handle.directory)} was replaced since"
                " it was looked up; nothing deleted"
            )
        return dir_fd

    def __exit__(self, *exc_info) -> None:
        while self.fds:
            os.close(self.fds.pop())
