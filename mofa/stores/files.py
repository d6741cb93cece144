"""The files store: sessions read straight from the files under a root, with no index.

An id is looked up, never turned into a path except by a rule that cannot leave the root: a
per-agent id's two validated parts, or a MoFA file name (one plain component) found in the
root. Every file is opened relative to its directory's descriptor without following links,
so a symlink swapped in after the lookup is never followed.
"""

from __future__ import annotations

import builtins
import errno
import os
from collections.abc import Iterator
from stat import S_ISDIR, S_ISREG
from typing import TYPE_CHECKING, NamedTuple

from mofa.stores.base import ALL, SessionFilter, SessionRef, SessionRow, SessionStore, Warn

if TYPE_CHECKING:
    from mofa import tree
    from mofa.session import Session
    from mofa.stores.results import SearchHit

# What reads, names and parses files (mofa.tree, mofa.ids, mofa.session, mofa.errors) is
# imported by the functions that do so: the index's store subclasses this one, and a listing
# that mofa-indexd vouches for reads no file (every module costs start-up time).


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
    from mofa.errors import SessionPermissionError, StoreError

    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return SessionPermissionError(f"permission denied: {what}")
    return StoreError(f"cannot access {what}: {error.strerror or error}")


# A session file found by a scan is opened as the scan stat-ed it: never through a symlink, and
# O_NONBLOCK so that a FIFO put in its place since does not block the open (its fstat then says
# it is no regular file). O_NONBLOCK does nothing to a regular file's reads.
_FOUND = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY


def read_bytes(path: str, found: bool = False) -> bytes:
    """The bytes of the file at `path`. `found`: a session file a scan or lookup found as a
    regular file; anything else in its place since (a symlink, a FIFO, a device, a directory)
    is gone, as the next scan would say (SessionNotFound), never followed nor waited on."""
    return read_with_stat(path, found)[0]


def read_with_stat(path: str, found: bool = False) -> tuple[bytes, os.stat_result]:
    """`read_bytes`, and the stat of the file that was read (taken from its descriptor)."""
    from mofa import tree
    from mofa.errors import CorruptSession, SessionNotFound, SessionPermissionError, StoreError

    try:
        with open(path, "rb") if not found else _open_found(path) as handle:
            limit = tree.max_session_bytes()
            size = os.fstat(handle.fileno()).st_size
            tree.check_size(path, size, limit)
            # read(n) allocates n bytes up front: ask for the size, and only if the file grew
            # since, for the rest up to the limit.
            data = handle.read(size + 1)
            if len(data) > size:
                data += handle.read(limit + 1 - len(data))
                tree.check_size(path, len(data), limit)
            return data, os.fstat(handle.fileno())
    except FileNotFoundError:
        raise SessionNotFound(f"session file vanished: {path}") from None
    except PermissionError:
        raise SessionPermissionError(f"permission denied: {path}") from None
    except IsADirectoryError:
        raise CorruptSession(path, "is a directory") from None
    except OSError as error:
        if found and error.errno in (errno.ELOOP, errno.ENXIO):  # a symlink, a socket
            raise SessionNotFound(f"session file vanished: {path}") from None
        raise StoreError(f"cannot read {path}: {error.strerror or error}") from None


def _open_found(path: str):
    fd = os.open(path, _FOUND)
    try:
        if not S_ISREG(os.fstat(fd).st_mode):
            raise FileNotFoundError(errno.ENOENT, "not a regular file", path)
        return open(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def parse_file(
    layout: str, path: str, agent: str, name: str, data: bytes, mtime_ns: int, fast: bool = False
) -> Session:
    from mofa.layouts import parse_agent_json, parse_jsonl
    from mofa.session import JSON_LAYOUT, JSONL_SUFFIX

    if layout == JSON_LAYOUT:
        return parse_agent_json(path, agent, name, data, mtime_ns, fast)
    stem = os.path.basename(path)[: -len(JSONL_SUFFIX)]
    return parse_jsonl(path, stem, data, mtime_ns)


def load_path(root: str, directory: str, stat: tree.FileStat, fast: bool = False) -> Session:
    """Parse one session file found by a scan (`directory` is '' for the root's JSONL files);
    `fast` when only its summary is wanted."""
    from mofa.session import JSON_LAYOUT, JSON_SUFFIX, JSONL_LAYOUT

    if directory:
        path = os.path.join(root, directory, stat.name)
        return parse_file(
            JSON_LAYOUT,
            path,
            directory,
            stat.name[: -len(JSON_SUFFIX)],
            read_bytes(path, True),
            stat.mtime_ns,
            fast,
        )
    path = os.path.join(root, stat.name)
    return parse_file(JSONL_LAYOUT, path, "", "", read_bytes(path, True), stat.mtime_ns, fast)


def row_of(session: Session) -> SessionRow:
    summary = session.summary()
    return SessionRow(*(getattr(summary, field) for field in SessionRow._fields))


def wide_row(row: SessionRow, session: Session):
    """`row` with the session's title, as `list --wide` shows it."""
    from mofa.stores.wide import WideRow

    return WideRow(*row, session.title)


def passes(row: SessionRow, wanted: SessionFilter, tags: list | None = None) -> bool:
    """Whether a row passes every filter of `wanted` but the limit (`tags`: the session's)."""
    if wanted.agent is not None and row.agent != wanted.agent:
        return False
    if wanted.since is not None and (row.created_at is None or row.created_at < wanted.since):
        return False
    if wanted.until is not None and (row.created_at is None or row.created_at >= wanted.until):
        return False
    if wanted.statuses and row.status not in wanted.statuses:
        return False
    if wanted.user is not None and row.user_id != wanted.user:
        return False
    if wanted.tags and not set(wanted.tags) <= set(tags or ()):
        return False
    return True


def newest(rows: list, limit: int | None, sort: str = "created") -> list:
    """Oldest first by created_at, or by last activity with `sort` "updated" (unknown first),
    ties by id; the `limit` newest."""
    if sort == "updated":
        from mofa.stores.wide import activity_key

        rows.sort(key=activity_key)
    else:
        rows.sort(key=lambda row: (row.created_at or "", row.session_id))
    return rows if limit is None else rows[max(len(rows) - limit, 0) :]


class FileSessionStore(SessionStore):
    """Sessions read straight from the files under `root`, with no index."""

    kind = "files"

    def __init__(self, root: str, warn: Warn | None = None):
        self.root = root
        self.warn = warn

    # -- listing ---------------------------------------------------------------------------
    def iter_sessions(self, agent: str | None = None) -> Iterator[Session]:
        """Every readable session (of `agent`); `warn` hears of each file that is not."""
        from mofa import tree
        from mofa.errors import CorruptSession, SessionNotFound, SessionPermissionError, StoreError

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
                kept, dropped = sorted((other, session), key=claim_rank)
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
        from mofa.errors import SessionNotFound
        from mofa.ids import parse_session_id

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
        from mofa.errors import AmbiguousSessionId, InvalidSessionId, SessionNotFound
        from mofa.ids import is_safe_name, parse_session_id

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
        from mofa import tree
        from mofa.errors import CorruptSession, SessionNotFound, SessionPermissionError, StoreError
        from mofa.ids import mofa_file_stem
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
            rank = (
                0 if session is not None and mofa_file_stem(session_id) == stem else 1,
                1 if session is None else 0,
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
        from mofa import tree
        from mofa.errors import SessionNotFound

        handle = _file_handle(ref)
        path = self.path_of(handle)
        st = tree.regular_file_stat(path)
        if st is None:
            raise SessionNotFound(f"session not found: {ref.session_id}")
        return parse_file(
            handle.layout, path, ref.agent, ref.name, read_bytes(path, True), st.st_mtime_ns
        )

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
        from mofa.errors import SessionNotFound

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
        from mofa.errors import SessionNotFound

        ref = self._exact_ref(session_id)
        if ref is None:
            raise SessionNotFound(f"session not found: {session_id}")
        return ref

    def _exact_ref(self, session_id: str) -> SessionRef | None:
        """The winning file of this very id: a per-agent file, else a MoFA file."""
        from mofa import tree

        if not tree.utf8_name(session_id):
            return None  # no file name, no header read as UTF-8, holds a lone surrogate
        ref = self._agent_json_ref(session_id) if ":" in session_id else None
        return ref if ref is not None else self._jsonl_ref(session_id)

    def save(self, session_id: str, document: dict, replace: bool = False) -> SessionRef:
        """Write the session through the root's one writer (mofa.stores.writing): over the file
        that holds this id now when `replace`, so that every reader finds the new content."""
        from mofa import tree
        from mofa.errors import InvalidSessionId, SessionExists
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
        """This store wrote `file` of `directory`: a store that keeps an index learns of it."""

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
    from mofa.errors import SessionChanged

    return SessionChanged(
        f"session {ref.session_id} was written to since it was read; kept, not deleted"
    )


def _check_unchanged(dir_fd: int, name: str, path: str, ref: SessionRef, version) -> None:
    """Raise SessionChanged unless the file `name` is still the one `version` describes, with
    the same content; SessionNotFound when it is gone."""
    from mofa import tree
    from mofa.errors import SessionNotFound

    if not isinstance(version, FileVersion):
        raise _changed(ref)
    try:
        fd = os.open(name, _FOUND, dir_fd=dir_fd)
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


def claim_rank(session: Session) -> tuple:
    """DESIGN "Session ids": the per-agent file wins over a JSONL header; among JSONL files the
    one whose name is the key's own file name, else the first path in byte order."""
    from mofa.ids import mofa_file_stem
    from mofa.session import JSON_LAYOUT, JSONL_SUFFIX

    if session.layout == JSON_LAYOUT:
        return (0, os.fsencode(session.path))
    stem = os.path.basename(session.path)[: -len(JSONL_SUFFIX)]
    return (1 if mofa_file_stem(session.session_id) == stem else 2, os.fsencode(session.path))


def duplicate_warning(dropped: str, kept: str, session_id: str) -> str:
    return f"{dropped}: session id {session_id!r} is also used by {kept}; left out"


def _per_agent_parts(text: str) -> tuple[str, str] | None:
    """The first (agent, session) split of `text` that can name a per-agent file, else None."""
    return next(_per_agent_splits(text), None)


def _per_agent_splits(text: str) -> Iterator[tuple[str, str]]:
    """Every (agent, session) split of `text` at a ':' whose two parts are safe names."""
    from mofa.ids import is_safe_name

    position = text.find(":")
    while position != -1:
        agent, name = text[:position], text[position + 1 :]
        if is_safe_name(agent) and is_safe_name(name):
            yield agent, name
        position = text.find(":", position + 1)


def _file_handle(ref: SessionRef) -> FileHandle:
    from mofa.errors import SessionNotFound
    from mofa.ids import is_safe_name

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
        from mofa.errors import SessionNotFound, StoreError

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
