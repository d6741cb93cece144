"""The one writer of a files root: a whole session (`import`, the Python API's `save`) or one
more message (`append`).

It keeps `delete`'s guarantees. The target is derived from the id alone (a per-agent id's two
validated parts, or MoFA's key-to-file-name rule); the agent directory is opened without
following a link and every file is named relative to its descriptor; the session is written
to a hidden temporary file beside its target, flushed to disk and renamed into place, so a
reader never meets half a session. It never writes onto a file that holds another session,
never where a reader would not find it, and only what reads back as the same session, its
numbers as their original text (mofa.jsontext).
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import os
from collections.abc import Iterable, Iterator
from stat import S_ISREG
from typing import NamedTuple

from mofa.errors import (
    CorruptSession,
    InvalidSessionId,
    RefusedPath,
    SessionExists,
    SessionFileTaken,
    SessionNotFound,
    SessionPermissionError,
    StoreError,
    UnstorableSession,
)
from mofa.ids import is_safe_name, mofa_file_stem
from mofa.reading import NO_FOLLOW_READ, parse_file, read_bytes
from mofa.session import JSON_LAYOUT, JSON_SUFFIX, JSONL_LAYOUT, JSONL_SUFFIX

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_TEMP_PREFIX = ".mofa-write-"
# Inside `writing_many`: the directories (root, agent directory) whose new entries are yet to
# be flushed to disk, each once when the batch ends, rather than once per file written.
_UNSYNCED: contextvars.ContextVar[dict[tuple[str, str], None] | None] = contextvars.ContextVar(
    "unsynced_directories", default=None
)


class Target(NamedTuple):
    """Where a session is written: its layout, its agent directory ('' for the root's MoFA
    files) and its file name, each one validated path component."""

    layout: str
    directory: str
    file: str


def stored_fields(session_id: str, document: dict) -> dict:
    """The fields to store: `export` puts `session_id` in front when the session had none."""
    fields = dict(document)
    if next(iter(fields), None) == "session_id" and fields["session_id"] == session_id:
        del fields["session_id"]
    return fields


def target_of(session_id: str, document: dict) -> Target:
    """Where a session with this id is written: a per-agent file when the id's two parts are
    plain names and the document is no MoFA header with that key; else MoFA's file name of the
    key; a MoFA session without a key goes to the file whose name gives its id back."""
    agent, sep, name = session_id.partition(":")
    key = document.get("key")
    mofa_key = key == session_id
    if not mofa_key and sep and is_safe_name(agent) and is_safe_name(name):
        return Target(JSON_LAYOUT, agent, name + JSON_SUFFIX)
    if mofa_key:
        stem = mofa_file_stem(session_id)
    elif not isinstance(key, str) or not key:
        # A MoFA file without a key is named by its id: only that file name gives it back.
        stem = session_id if is_safe_name(session_id) and _utf8(session_id) else ""
    else:
        stem = ""
    if not stem:
        # Stored under another name, it would come back under another id.
        raise InvalidSessionId(
            f"session id {session_id!r} cannot be stored in a files root: it is"
            " not <agent>:<session> with plain names, nor a MoFA session's key"
        )
    return Target(JSONL_LAYOUT, "", stem + JSONL_SUFFIX)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def encode(layout: str, fields: dict) -> bytes:
    """The file's bytes, as each layout's writer writes them: strict JSON, numbers as their
    text; a MoFA file as a header line and one line per message, no trailing newline."""
    from mofa.jsontext import dumps

    try:
        if layout == JSON_LAYOUT:
            return (dumps(fields, indent=2) + "\n").encode("utf-8")
        header = {key: value for key, value in fields.items() if key != "messages"}
        lines = [dumps(header, None)] + [dumps(item, None) for item in _messages(fields)]
        return "\n".join(lines).encode("utf-8")
    except TypeError as error:
        raise UnstorableSession(f"cannot store this session as JSON: {error}") from None


def _messages(fields: dict) -> list:
    messages = fields.get("messages")
    return messages if isinstance(messages, list) else []


def expected_export(session_id: str, layout: str, fields: dict) -> dict:
    """What `export` gives of these fields stored in `layout` (a MoFA file keeps its
    messages as lines, after the header)."""
    document: dict = {} if "session_id" in fields else {"session_id": session_id}
    if layout == JSON_LAYOUT:
        document.update(fields)
        return document
    document.update((key, value) for key, value in fields.items() if key != "messages")
    document["messages"] = _messages(fields)
    return document


def write_session(
    root: str,
    session_id: str,
    document: dict,
    replace: bool = False,
    winner: Target | None = None,
) -> Target:
    """Write the session; returns where. `winner`: the file that holds this id now (written
    over in its own layout, so the reader finds the new content where it looks); without it
    the target comes from the id. `replace` False: a file that appears there meanwhile is
    never written over (SessionExists)."""
    fields = stored_fields(session_id, document)
    target = winner or target_of(session_id, fields)
    data = encode(target.layout, fields)
    _check_reads_back(root, session_id, target, fields, data)
    with _opened_directory(root, target.directory) as dir_fd:
        current = _entry_mode(dir_fd, target, root)
        if current is not None:
            holder = _holder(dir_fd, target, root)
            if holder is not None and holder != session_id:
                raise SessionFileTaken(
                    f"cannot store session {session_id!r}: its file"
                    f" {_path(root, target)} holds session {holder!r}"
                    " (both ids give that file name); nothing written"
                )
            if not replace:
                raise SessionExists(f"session {session_id!r} already exists (use --replace)")
        _place(dir_fd, target, data, current, replace, root)
    return target


def _path(root: str, target: Target) -> str:
    return os.path.join(root, target.directory, target.file)


def _check_reads_back(root: str, session_id: str, target: Target, fields: dict, data: bytes):
    """Refuse what the reader would not give back as the same session (an id it would read
    otherwise, a message line MoFA would skip, a header read as a message)."""
    from mofa.documents import export_document, to_json

    name = target.file[: -len(JSON_SUFFIX)] if target.layout == JSON_LAYOUT else ""
    try:
        session = parse_file(target.layout, _path(root, target), target.directory, name, data, 0)
    except CorruptSession as error:
        raise UnstorableSession(
            f"session {session_id!r} cannot be stored as {target.file}: {error.reason}"
        ) from None
    same = session.session_id == session_id and to_json(export_document(session)) == to_json(
        expected_export(session_id, target.layout, fields)
    )
    if not same:
        why = "; ".join(session.warnings) or "it would not read back as the same session"
        raise UnstorableSession(
            f"session {session_id!r} cannot be stored as {target.file}: {why}; nothing written"
        )


class _opened_directory:
    """The root (followed, as every command does) and the agent directory in it, made if
    missing, opened without following a link: a context manager yielding its descriptor."""

    def __init__(self, root: str, directory: str):
        self.root = root
        self.directory = directory
        self.fds: list[int] = []
        self.created = False

    def __enter__(self) -> int:
        try:
            os.makedirs(self.root, exist_ok=True)  # the default root, on a first write
            self.fds.append(os.open(self.root, _DIR_FLAGS))
        except OSError as error:
            raise _failure(error, self.root) from None
        if not self.directory:
            return self.fds[0]
        path = os.path.join(self.root, self.directory)
        try:
            try:
                os.mkdir(self.directory, 0o777, dir_fd=self.fds[0])
                self.created = True
            except FileExistsError:
                pass
            self.fds.append(os.open(self.directory, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=self.fds[0]))
            if self.created:  # the new directory's entry in the root reaches the disk too
                _sync_directory(self.fds[0], self.root, "")
        except OSError as error:
            self.__exit__()
            if error.errno in (errno.ELOOP, errno.ENOTDIR):
                raise RefusedPath(
                    f"{path} is not a real directory (a symlink or a file); nothing written"
                ) from None
            raise _failure(error, path) from None
        return self.fds[1]

    def __exit__(self, *exc_info) -> None:
        failed = bool(exc_info) and exc_info[0] is not None
        while len(self.fds) > 1:
            os.close(self.fds.pop())
        if failed and self.created and self.fds:
            try:  # a failed write leaves no agent directory of its own behind
                os.rmdir(self.directory, dir_fd=self.fds[0])
            except OSError:
                pass  # another writer's file is in it now
        while self.fds:
            os.close(self.fds.pop())


def _entry_mode(dir_fd: int, target: Target, root: str) -> int | None:
    """The permission bits of the regular file at the target, None when there is none;
    anything else there (a link, a directory, a FIFO) is refused."""
    try:
        st = os.stat(target.file, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise _failure(error, _path(root, target)) from None
    if not S_ISREG(st.st_mode):
        raise RefusedPath(f"{_path(root, target)} is not a regular file; nothing written")
    return st.st_mode & 0o7777


def _holder(dir_fd: int, target: Target, root: str) -> str | None:
    """The id of the session in the file at the target (a per-agent file's comes from its
    path; a MoFA file that cannot be read is named by its file name); None when it is gone."""
    from mofa.layouts import parse_jsonl

    if target.layout == JSON_LAYOUT:
        return f"{target.directory}:{target.file[: -len(JSON_SUFFIX)]}"
    stem = target.file[: -len(JSONL_SUFFIX)]
    try:
        fd = os.open(target.file, NO_FOLLOW_READ, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise _failure(error, _path(root, target)) from None
    with open(fd, "rb") as handle:
        data = handle.read()
    try:
        return parse_jsonl(_path(root, target), stem, data, 0).session_id
    except CorruptSession:
        return stem


def _place(
    dir_fd: int, target: Target, data: bytes, mode: int | None, replace: bool, root: str
) -> None:
    """Write `data` to a hidden file beside the target, flush it to disk and put it in place:
    renamed over the old file (`replace`), or linked where none may be yet."""
    temporary = f"{_TEMP_PREFIX}{os.urandom(8).hex()}.tmp"
    path = _path(root, target)
    try:
        fd = os.open(
            temporary,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o666,
            dir_fd=dir_fd,
        )
    except OSError as error:
        raise _failure(error, path) from None
    try:
        with open(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            if mode is not None:
                os.fchmod(stream.fileno(), mode)  # the replaced file's permissions
            os.fsync(stream.fileno())
        if replace:
            os.rename(temporary, target.file, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        else:
            try:
                os.link(temporary, target.file, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            finally:
                os.unlink(temporary, dir_fd=dir_fd)
        _sync_directory(dir_fd, root, target.directory)
    except BaseException as error:
        try:
            os.unlink(temporary, dir_fd=dir_fd)
        except OSError:
            pass
        if isinstance(error, FileExistsError):
            raise SessionExists(
                f"{path} already exists (written meanwhile); use --replace"
            ) from None
        if isinstance(error, OSError):
            raise _failure(error, path) from None
        raise


@contextlib.contextmanager
def writing_many() -> Iterator[None]:
    """A batch of writes (an import of many sessions): each file is still flushed to disk
    before it is put in place, but each directory that got new entries is flushed once, when
    the batch ends (also when it ends by an error), instead of once per file (a third of an
    import's time on ext4). A session written in the batch is on disk once the batch ends."""
    if _UNSYNCED.get() is not None:  # already inside a batch: that one flushes
        yield
        return
    unsynced: dict[tuple[str, str], None] = {}
    token = _UNSYNCED.set(unsynced)
    try:
        yield
    except BaseException:
        _UNSYNCED.reset(token)
        _flush_directories(unsynced, quiet=True)  # what was written stays written
        raise
    _UNSYNCED.reset(token)
    _flush_directories(unsynced, quiet=False)


def _flush_directories(unsynced: dict[tuple[str, str], None], quiet: bool) -> None:
    """fsync each (root, directory), opened as the writer opens it; one gone since is skipped.
    Every one is tried; the first failure is raised after (unless `quiet`)."""
    failure = None
    for root, directory in unsynced:
        path = os.path.join(root, directory)
        fds: list[int] = []
        try:
            fds.append(os.open(root, _DIR_FLAGS))
            if directory:
                fds.append(os.open(directory, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fds[0]))
            os.fsync(fds[-1])
        except FileNotFoundError:
            pass  # removed since (its last session deleted): no entry of it left to flush
        except OSError as error:
            failure = failure or _failure(error, path)
        finally:
            for fd in fds:
                os.close(fd)
    if failure is not None and not quiet:
        raise failure


def _sync_directory(dir_fd: int, root: str, directory: str) -> None:
    """Flush the directory's new entry to disk now, or when the batch ends (`writing_many`)."""
    unsynced = _UNSYNCED.get()
    if unsynced is None:
        os.fsync(dir_fd)
    else:
        unsynced[(root, directory)] = None


def append_message(root: str, target: Target, session_id: str, message: dict) -> None:
    """One more message: a line appended to a MoFA file (opened without following a link); a
    per-agent file read and written again whole, through `write_session`."""
    from mofa.jsontext import dumps
    from mofa.layouts import message_problem

    if target.layout == JSONL_LAYOUT:
        problem = message_problem(message)
        if problem:
            raise UnstorableSession(
                f"cannot append to {session_id}: the message {problem}, so MoFA would skip it"
            )
        try:
            line = dumps(message, None).encode("utf-8")
        except TypeError as error:
            raise UnstorableSession(f"cannot append to {session_id}: {error}") from None
        with _opened_directory(root, "") as dir_fd:
            try:
                fd = os.open(target.file, os.O_RDWR | os.O_APPEND | os.O_NOFOLLOW, dir_fd=dir_fd)
            except FileNotFoundError:
                raise SessionNotFound(f"session file vanished: {_path(root, target)}") from None
            except OSError as error:
                raise _failure(error, _path(root, target)) from None
            with open(fd, "r+b") as handle:
                size = os.fstat(fd).st_size
                needs_break = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
                handle.write((b"\n" if needs_break else b"") + line)
        return
    from mofa.documents import export_document

    path = _path(root, target)
    session = parse_file(
        JSON_LAYOUT,
        path,
        target.directory,
        target.file[: -len(JSON_SUFFIX)],
        read_bytes(path, True),
        0,
    )
    document = export_document(session)
    messages = document.get("messages")
    if not isinstance(messages, list):
        document["messages"] = messages = []
    messages.append(message)
    write_session(root, session_id, document, replace=True, winner=target)


# -- files outside the root (exports, archives) ----------------------------------------------
def pieces(data: bytes | Iterable[bytes]) -> Iterable[bytes | memoryview]:
    """`data` as pieces to write one after the other: bytes are one piece."""
    return (data,) if isinstance(data, bytes | bytearray | memoryview) else data


def write_atomically(
    path: str, data: bytes | Iterable[bytes], mode: int | None = None, prefix: str = ".mofa-write-"
) -> None:
    """Write `data` (bytes, or pieces of them as they come) to `path` through a hidden
    temporary file renamed over it: all or nothing (no partial file, the old one whole on
    failure, a failure of the pieces' source included). Parent directories are created.
    `mode`: the permission bits to give it (those of the file it replaces), else the umask's."""
    import tempfile  # only here: with shutil, a few ms of every command's start-up

    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=directory)
    except PermissionError:
        raise SessionPermissionError(f"permission denied: cannot write in {directory}") from None
    except OSError as error:
        raise StoreError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            for piece in pieces(data):
                stream.write(piece)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_umask() if mode is None else mode)
        os.replace(temporary, path)
    except BaseException as error:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        if isinstance(error, PermissionError):
            raise SessionPermissionError(f"permission denied: cannot write {path}") from None
        if isinstance(error, OSError):
            raise StoreError(f"cannot write {path}: {error.strerror or error}") from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _failure(error: OSError, what: str) -> Exception:
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return SessionPermissionError(f"permission denied: cannot write {what}")
    return StoreError(f"cannot write {what}: {error.strerror or error}")
