"""The session store: the interface the commands use, and its implementation over the files.

A database backend can later sit behind the same `SessionStore` interface. No method builds
a path from an id before `parse_session_id` has validated it, so no id can reach outside the
root.
"""

from __future__ import annotations

import errno
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from mofa import tree
from mofa.errors import (
    AmbiguousSessionId,
    CorruptSession,
    SessionNotFound,
    SessionPermissionError,
    StoreError,
)
from mofa.ids import SessionId, parse_session_id
from mofa.session import JSON_LAYOUT, JSON_SUFFIX, JSONL_LAYOUT, JSONL_SUFFIX, Session, SessionSummary


class SessionRef(NamedTuple):
    """Where one session lives: enough to read or delete it without looking it up again."""

    session_id: str
    agent: str
    name: str
    layout: str
    path: str


class SessionStore(ABC):
    """What the commands need from wherever sessions are kept."""

    @abstractmethod
    def resolve(self, text: str) -> SessionRef:
        """The session a full or short id names; raises InvalidSessionId, SessionNotFound,
        AmbiguousSessionId."""

    @abstractmethod
    def load(self, ref: SessionRef) -> Session:
        """The whole session; raises CorruptSession when it cannot be read as one."""

    @abstractmethod
    def delete(self, ref: SessionRef) -> None:
        """Remove the session for good."""

    @abstractmethod
    def list_summaries(self, agent: str | None = None, limit: int | None = None) -> Iterable[SessionSummary]:
        """The `limit` most recently created sessions (of `agent`), oldest first."""

    def get(self, text: str) -> Session:
        return self.load(self.resolve(text))


def read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            limit = tree.max_session_bytes()
            size = os.fstat(handle.fileno()).st_size
            tree.check_size(path, size, limit)
            # read(n) allocates n bytes up front: ask for the size, and only if the file grew
            # since, for the rest up to the limit.
            data = handle.read(size + 1)
            if len(data) > size:
                data += handle.read(limit + 1 - len(data))
                tree.check_size(path, len(data), limit)
            return data
    except FileNotFoundError:
        raise SessionNotFound(f"session file vanished: {path}") from None
    except PermissionError:
        raise SessionPermissionError(f"permission denied: {path}") from None
    except IsADirectoryError:
        raise CorruptSession(path, "is a directory") from None
    except OSError as error:
        raise StoreError(f"cannot read {path}: {error.strerror or error}") from None


def parse_file(ref: SessionRef, data: bytes, mtime_ns: int, fast: bool = False) -> Session:
    from mofa.layouts import parse_agent_json, parse_jsonl

    if ref.layout == JSON_LAYOUT:
        return parse_agent_json(ref.path, ref.agent, ref.name, data, mtime_ns, fast)
    stem = os.path.basename(ref.path)[: -len(JSONL_SUFFIX)]
    return parse_jsonl(ref.path, stem, data, mtime_ns)


def load_path(root: str, directory: str, stat: tree.FileStat, fast: bool = False) -> Session:
    """Parse one session file found by a scan (`directory` is '' for the root's JSONL files);
    `fast` when only its summary is wanted."""
    if directory:
        path = os.path.join(root, directory, stat.name)
        ref = SessionRef("", directory, stat.name[: -len(JSON_SUFFIX)], JSON_LAYOUT, path)
    else:
        path = os.path.join(root, stat.name)
        ref = SessionRef("", "", "", JSONL_LAYOUT, path)
    return parse_file(ref, read_bytes(path), stat.mtime_ns, fast)


class FileSessionStore(SessionStore):
    """Sessions read straight from the files under `root`, with no index."""

    def __init__(self, root: str):
        self.root = root

    # -- resolving ids -------------------------------------------------------------------
    def resolve(self, text: str) -> SessionRef:
        wanted = parse_session_id(text)
        if wanted.agent is not None:
            ref = self._agent_json_ref(wanted.agent, wanted.name)
            if ref is None:
                matches = self.jsonl_refs(full_id=wanted.full)
                ref = matches[0] if matches else None
            if ref is None:
                raise SessionNotFound(f"session not found: {text}")
            return ref
        return self._resolve_short(wanted)

    def _resolve_short(self, wanted: SessionId) -> SessionRef:
        matches = []
        for agent in tree.scan_root(self.root).agents:
            ref = self._agent_json_ref(agent, wanted.name)
            if ref is not None:
                matches.append(ref)
        matches.extend(self.jsonl_refs(name=wanted.name))
        if not matches:
            raise SessionNotFound(f"session not found: {wanted.name}")
        if len(matches) > 1:
            raise AmbiguousSessionId(wanted.name, sorted(ref.session_id for ref in matches))
        return matches[0]

    def _agent_json_ref(self, agent: str, name: str) -> SessionRef | None:
        directory = os.path.join(self.root, agent)
        path = os.path.join(directory, name + JSON_SUFFIX)
        if tree.regular_file_stat(path) is None or not tree.is_agent_dir(directory):
            return None
        return SessionRef(f"{agent}:{name}", agent, name, JSON_LAYOUT, path)

    def jsonl_refs(self, full_id: str | None = None, name: str | None = None) -> list[SessionRef]:
        """MoFA sessions with this id, or whose session part is `name`.

        Without an index the only way to know a JSONL file's id is to read its header.
        """
        found, unreadable = [], []
        for stat in tree.scan_root(self.root).jsonl:
            try:
                session = load_path(self.root, "", stat)
            except (CorruptSession, SessionPermissionError, StoreError):
                # Still addressable by the id its name gives (`show` says why, `delete` removes it).
                stem = stat.name[: -len(JSONL_SUFFIX)]
                head, sep, tail = stem.partition(":")
                if stem == full_id or (name is not None and (tail if sep else stem) == name):
                    unreadable.append(self.jsonl_ref(stem, head, tail if sep else stem, stat.name))
                continue
            except SessionNotFound:
                continue
            if session.session_id == full_id or (name is not None and session.name == name):
                found.append(self.jsonl_ref(session.session_id, session.agent, session.name, stat.name))
        ids = {ref.session_id for ref in found}
        return found + [ref for ref in unreadable if ref.session_id not in ids]

    def jsonl_ref(self, session_id: str, agent: str, name: str, file_name: str) -> SessionRef:
        return SessionRef(session_id, agent, name, JSONL_LAYOUT, os.path.join(self.root, file_name))

    # -- reading and deleting ------------------------------------------------------------
    def load(self, ref: SessionRef) -> Session:
        st = tree.regular_file_stat(ref.path)
        if st is None:
            raise SessionNotFound(f"session not found: {ref.session_id}")
        return parse_file(ref, read_bytes(ref.path), st.st_mtime_ns)

    def delete(self, ref: SessionRef) -> None:
        if tree.regular_file_stat(ref.path) is None:
            raise SessionNotFound(f"session not found: {ref.session_id}")
        try:
            os.unlink(ref.path)
        except FileNotFoundError:
            raise SessionNotFound(f"session not found: {ref.session_id}") from None
        except OSError as error:
            if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise SessionPermissionError(f"permission denied: cannot delete {ref.path}") from None
            raise StoreError(f"cannot delete {ref.path}: {error.strerror or error}") from None

    # -- listing -------------------------------------------------------------------------
    def iter_sessions(self, agent: str | None = None, warn=None) -> Iterator[Session]:
        """Every readable session (of `agent`); `warn` hears of each file that is not."""
        skipped: list[str] = []
        places = tree.session_files(self.root, None if agent is None else [agent], skipped)
        for message in skipped if warn else ():
            warn(message)
        for directory, files in places:
            for stat in files:
                try:
                    session = load_path(self.root, directory, stat)
                except (CorruptSession, SessionPermissionError, StoreError) as error:
                    if warn:
                        warn(str(error))
                    continue
                except SessionNotFound:
                    continue
                if agent is None or session.agent == agent:
                    yield session

    def list_summaries(self, agent=None, limit=None, warn=None):
        rows = sorted(
            (session.summary() for session in self.iter_sessions(agent, warn)),
            key=lambda row: (row.created_at, row.session_id),
        )
        return rows if limit is None else rows[max(len(rows) - limit, 0):]
