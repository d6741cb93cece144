"""Archives: a directory of sessions' exact json exports, and its manifest.

`prune --archive DIR` and a bulk `export -o DIR` write one; `import DIR` reads one back.

    DIR/<agent>/<name>.json   one session's `export -f json` bytes
    DIR/manifest.jsonl        one line per file: id, file, sha256, exported_at

Names are made from the agent and the id by `agent_dir_name` and `file_base`: plain characters
kept, anything else escaped as `%XX` (UTF-8 bytes), so two ids never share a name and an agent
named `..` or `a/b` stays one plain directory inside DIR. Nothing in DIR is ever replaced: a
file is created with O_EXCL, and a session archived again gets the next free name
(`<name>+2.json`, ...). Directories are opened without following symlinks and files are never
opened through one, so nothing in DIR can redirect a write elsewhere.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import signal
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import NamedTuple

from mofa.errors import (
    ArchiveFull,
    ArchiveRefused,
    CorruptSession,
    MofaError,
    RefusedPath,
    SessionPermissionError,
    StoreError,
)
from mofa.ids import is_safe_name
from mofa.paths import check_outside_root
from mofa.reading import NO_FOLLOW_READ

MANIFEST = "manifest.jsonl"
SUFFIX = ".json"
_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
_PLAIN_TEXT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_LONGEST = 200  # bytes of a name before `+N.json`: well inside NAME_MAX (255)
_MOST_COPIES = 100_000
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class ArchivedFile(NamedTuple):
    """One line of the manifest: a session's id, its file (relative to DIR, `/`-separated),
    the file's SHA-256 and when it was written (UTC, RFC 3339)."""

    id: str
    file: str
    sha256: str
    exported_at: str


def escaped(text: str) -> str:
    """`text` with every character but ASCII letters, digits, `-`, `_` and `.` (not leading)
    written as `%XX` per UTF-8 byte: reversible, so two texts never give one name."""
    if _PLAIN_TEXT.fullmatch(text):  # most ids: nothing to escape
        return text
    out = []
    for position, char in enumerate(text):
        if char in _PLAIN and not (position == 0 and char == "."):
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
    return "".join(out)


def _fitted(name: str, text: str) -> str:
    """`name` cut to fit a file name when too long, with a digest of the whole `text` after a
    `~` (a character `escaped` never leaves as it is)."""
    if len(name) <= _LONGEST:
        return name
    cut = name[: _LONGEST - 41]
    cut = cut[: cut.rfind("%")] if "%" in cut[-2:] else cut  # never half an escape
    return cut + "~" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def agent_dir_name(agent: str) -> str:
    """The directory of an agent's sessions inside DIR: one plain component, never hidden, and
    never the manifest's name (its `.` escaped: `escaped` would never leave `%2E` so)."""
    if not agent:
        return "%"
    if agent == MANIFEST:
        return MANIFEST.replace(".", "%2E")
    return _fitted(escaped(agent), agent)


def file_base(session_id: str, agent: str) -> str:
    """A session's file name inside its agent's directory, without `.json`: the id's part after
    `<agent>:` when it starts so; else `@` and the whole id (`@` is always escaped otherwise,
    so the two forms never meet)."""
    prefix = agent + ":"
    if session_id.startswith(prefix) and len(session_id) > len(prefix):
        return _fitted(escaped(session_id[len(prefix) :]), session_id)
    return _fitted("@" + escaped(session_id), session_id)


def _candidates(base: str) -> Iterator[str]:
    yield base + SUFFIX
    for copy in range(2, _MOST_COPIES):
        yield f"{base}+{copy}{SUFFIX}"


def _failure(error: OSError, what: str) -> MofaError:
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return SessionPermissionError(f"permission denied: {what}")
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return ArchiveFull(f"cannot write {what}: {error.strerror or error}")
    return StoreError(f"cannot write {what}: {error.strerror or error}")


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _root_identity(root: str | None) -> tuple[int, int] | None:
    if root is None:
        return None
    try:
        return _identity(os.stat(root))
    except OSError:
        return None


def check_agent_dirs(directory: str, root: str | None, agents) -> None:
    """Raise RefusedPath when the archive `directory`, or the directory of one of `agents` in
    it, is inside the sessions `root` (by any path, symlink or mount): before anything is
    written, so that a refused archive leaves everything as it was."""

    check_outside_root(directory, root)
    root_identity = _root_identity(root)
    for agent in set(agents):
        agent_dir = os.path.join(directory, agent_dir_name(agent))
        check_outside_root(agent_dir, root)
        try:
            same = root_identity is not None and _identity(os.stat(agent_dir)) == root_identity
        except OSError:
            same = False
        if same:
            raise _into_root(agent_dir, root)


def planned_file(directory: str, session_id: str, agent: str) -> str:
    """Where `Archive.add` would put this session now (its path under `directory`), for a dry
    run: nothing is created."""
    agent_dir = os.path.join(directory, agent_dir_name(agent))
    for name in _candidates(file_base(session_id, agent)):
        if not os.path.lexists(os.path.join(agent_dir, name)):
            return os.path.join(agent_dir, name)
    raise StoreError(f"no free file name left in {agent_dir}")


def _into_root(path: str, root: str | None) -> RefusedPath:
    return RefusedPath(
        f"refusing to archive into {path}: it is the sessions root {root}"
        " (an archive never overwrites or creates a session)"
    )


class Archive:
    """An archive directory open for adding sessions (a context manager). `add` makes each
    session's file durable and checked before it returns, so a caller may then delete it."""

    def __init__(
        self,
        path: str,
        fd: int,
        root: str | None,
        root_identity: tuple | None,
        durable: bool = True,
    ):
        self.path = path
        self.durable = durable
        self.root = root
        self._fd = fd
        self._root_identity = root_identity
        self._agents: dict[str, int] = {}
        self._manifest: int | None = None

    @classmethod
    def open(cls, path: str, root: str | None = None, durable: bool = True) -> Archive:
        """Open (creating it if need be) the archive directory `path`. RefusedPath when it is
        inside the sessions `root`, by any name. `durable`: each file and manifest line is
        flushed to disk and read back before `add` returns (what a prune needs before it
        deletes); an export, which deletes nothing, leaves the flushing to the system."""

        check_outside_root(path, root)
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as error:
            if error.errno == errno.ENOTDIR or isinstance(error, FileExistsError):
                raise RefusedPath(f"cannot archive into {path}: it is not a directory") from None
            raise _failure(error, path) from None
        root_identity = _root_identity(root)
        if root_identity is not None and _identity(os.fstat(fd)) == root_identity:
            os.close(fd)
            raise _into_root(path, root)
        return cls(path, fd, root, root_identity, durable)

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        for fd in [*self._agents.values(), self._manifest, self._fd]:
            if fd is not None and fd >= 0:
                os.close(fd)
        self._agents.clear()
        self._manifest = None
        self._fd = -1

    # -- writing ---------------------------------------------------------------------------
    def add(self, session_id: str, agent: str, data: bytes) -> ArchivedFile:
        """Write one session's export as a new file, flushed to disk and read back equal, then
        its manifest line. Never replaces anything; raises RefusedPath, StoreError,
        SessionPermissionError (nothing of the session is then in the archive but, at most, a
        file the manifest does not name). Ctrl-C takes effect once both are written."""
        with _interrupts_held():
            return self._add(session_id, agent, data)

    def _add(self, session_id: str, agent: str, data: bytes) -> ArchivedFile:
        self._manifest_fd()
        directory = agent_dir_name(agent)
        agent_fd = self._agent_fd(directory)
        for name in _candidates(file_base(session_id, agent)):
            try:
                fd = os.open(
                    name,
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                    0o600,
                    dir_fd=agent_fd,
                )
            except FileExistsError:
                continue  # taken (a file, a symlink, anything): never replaced
            except OSError as error:
                raise _failure(error, os.path.join(self.path, directory, name)) from None
            shown = os.path.join(self.path, directory, name)
            try:
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                    if self.durable:
                        os.fsync(fd)
                finally:
                    os.close(fd)
                if self.durable:
                    os.fsync(agent_fd)
                    if _read_at(agent_fd, name, shown) != data:
                        raise StoreError(f"{shown} did not read back as written")
            except BaseException as error:  # a full disk, Ctrl-C: no file left half-written
                _remove_at(agent_fd, name)
                if isinstance(error, OSError):
                    raise _failure(error, shown) from None
                raise
            entry = ArchivedFile(
                session_id,
                f"{directory}/{name}",
                hashlib.sha256(data).hexdigest(),
                datetime.now(UTC).isoformat(timespec="microseconds")[:-6] + "Z",
            )
            self._append_manifest(entry)
            return entry
        raise StoreError(f"no free file name left in {os.path.join(self.path, directory)}")

    def _agent_fd(self, directory: str) -> int:
        fd = self._agents.get(directory)
        if fd is not None:
            return fd
        shown = os.path.join(self.path, directory)
        created = False
        try:
            os.mkdir(directory, 0o700, dir_fd=self._fd)
            created = True
        except FileExistsError:
            pass
        except OSError as error:
            raise _failure(error, shown) from None
        try:
            fd = os.open(directory, _DIR_FLAGS, dir_fd=self._fd)
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENOTDIR):
                raise RefusedPath(
                    f"refusing to archive into {shown}: it is a symlink or not a directory"
                ) from None
            raise _failure(error, shown) from None
        if self._root_identity is not None and _identity(os.fstat(fd)) == self._root_identity:
            os.close(fd)
            raise _into_root(shown, self.root)
        if created and self.durable:
            try:
                os.fsync(self._fd)  # the new directory's entry is on disk too
            except OSError as error:
                os.close(fd)
                raise _failure(error, self.path) from None
        self._agents[directory] = fd
        return fd

    def _manifest_fd(self) -> int:
        """The manifest, opened for appending (created if need be) before the first file is
        written: an archive whose manifest cannot be written takes no file at all."""
        if self._manifest is not None:
            return self._manifest
        shown = os.path.join(self.path, MANIFEST)
        try:
            fd = os.open(
                MANIFEST,
                os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                0o600,
                dir_fd=self._fd,
            )
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise ArchiveRefused(f"refusing to write {shown}: it is a symlink") from None
            if error.errno == errno.EISDIR:
                raise ArchiveRefused(
                    f"refusing to write {shown}: it is not a regular file"
                ) from None
            if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise ArchiveRefused(f"permission denied: {shown}") from None
            raise _failure(error, shown) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ArchiveRefused(f"refusing to write {shown}: it is not a regular file")
        self._manifest = fd
        return fd

    def _append_manifest(self, entry: ArchivedFile) -> None:
        from mofa.jsontext import encode

        line = encode(entry._asdict(), indent=None, newline=True)
        manifest = self._manifest_fd()
        try:
            size = os.fstat(manifest).st_size
            if size and os.pread(manifest, 1, size - 1) != b"\n":
                line = b"\n" + line  # a line cut short earlier stays a line of its own
            os.write(manifest, line)
            if self.durable:
                os.fsync(manifest)
                os.fsync(self._fd)
        except OSError as error:
            raise _failure(error, os.path.join(self.path, MANIFEST)) from None


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """SIGINT held back (in the main thread) while a file and its manifest line are written:
    an archive never holds a file cut short, nor a whole file its manifest does not name."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _remove_at(dir_fd: int, name: str) -> None:
    """Remove the file `add` created and could not finish (a file, never a directory)."""
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass  # gone already; a file the manifest does not name is all that can be left


def _read_at(dir_fd: int, name: str, shown: str, limit: int | None = None) -> bytes:
    """A regular file's bytes, opened relative to `dir_fd` without following a symlink."""
    try:
        fd = os.open(name, NO_FOLLOW_READ, dir_fd=dir_fd)
    except FileNotFoundError:
        raise StoreError(f"cannot read {shown}: no such file") from None
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENXIO):
            raise RefusedPath(f"refusing to read {shown}: it is not a regular file") from None
        raise _failure(error, shown) from None
    with open(fd, "rb") as handle:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise RefusedPath(f"refusing to read {shown}: it is not a regular file")
        if limit is not None and st.st_size > limit:
            from mofa import tree

            tree.check_size(shown, st.st_size, limit)
        return handle.read()


# -- reading an archive back --------------------------------------------------------------
def manifest_entries(directory: str) -> list[ArchivedFile | MofaError]:
    """The manifest's lines in order, each an ArchivedFile or the reason it cannot be one."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise StoreError(f"cannot read the archive {directory}: {error.strerror}") from None
    try:
        text = _read_at(dir_fd, MANIFEST, os.path.join(directory, MANIFEST))
    except StoreError:
        raise StoreError(f"{directory} is not an archive: it has no {MANIFEST}") from None
    finally:
        os.close(dir_fd)
    shown = os.path.join(directory, MANIFEST)
    entries: list[ArchivedFile | MofaError] = []
    for number, line in enumerate(text.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            fields = json.loads(line)
            entry = ArchivedFile(*(fields[name] for name in ArchivedFile._fields))
            if not all(isinstance(value, str) for value in entry):
                raise ValueError
        except (ValueError, KeyError, TypeError, RecursionError):
            entries.append(CorruptSession(shown, f"line {number} is not a manifest entry"))
            continue
        entries.append(entry)
    return entries


def read_archived(directory: str, entry: ArchivedFile) -> bytes:
    """The bytes of one archived file, checked against its manifest line: a file named by
    anything but `<agent>/<name>` plain components, reached through a symlink, or whose
    SHA-256 differs is refused."""
    from mofa import tree

    shown = os.path.join(directory, *entry.file.split("/"))
    parts = entry.file.split("/")
    if len(parts) != 2 or not all(is_safe_name(part) for part in parts):
        raise CorruptSession(
            os.path.join(directory, MANIFEST), f"{entry.file!r} names no file of the archive"
        )
    fds = []
    try:
        try:
            fds.append(os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
            fds.append(os.open(parts[0], _DIR_FLAGS, dir_fd=fds[0]))
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENOTDIR):
                raise RefusedPath(
                    f"refusing to read {shown}: a symlink or not a directory on its way"
                ) from None
            raise StoreError(f"cannot read {shown}: {error.strerror or error}") from None
        data = _read_at(fds[1], parts[1], shown, tree.max_session_bytes())
    finally:
        for fd in fds:
            os.close(fd)
    if hashlib.sha256(data).hexdigest() != entry.sha256.lower():
        raise CorruptSession(shown, "its SHA-256 differs from the manifest's")
    return data


def archived_exports(directory: str) -> Iterator[tuple[str, object]]:
    """(source, ExportedSession or the MofaError that stops it) for each manifest line of the
    archive `directory`, in order; each file checked against its SHA-256 and its id."""
    from mofa.importing import read_export

    for entry in manifest_entries(directory):
        if isinstance(entry, MofaError):
            yield os.path.join(directory, MANIFEST), entry
            continue
        source = os.path.join(directory, *entry.file.split("/"))
        try:
            exported = read_export(source, read_archived(directory, entry))
            if exported.session_id != entry.id:
                raise CorruptSession(source, f"holds {exported.session_id!r}, not {entry.id!r}")
        except MofaError as error:
            yield source, error
        else:
            yield source, exported
