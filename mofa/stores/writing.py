"""Writing sessions into a files root: a whole session (import, agents) or one more message.

Files are written the way each layout's writer does: a per-agent session as one JSON object,
a MoFA session as a header line and one line per message, no trailing newline. A whole file is
replaced atomically (a temporary hidden file, fsync, rename), so a reader never meets half a
session.
"""

from __future__ import annotations

import json
import os
import tempfile

from mofa.errors import InvalidSessionId, SessionNotFound, SessionPermissionError, StoreError
from mofa.ids import is_safe_name, mofa_file_stem
from mofa.session import JSON_LAYOUT, JSON_SUFFIX, JSONL_SUFFIX


def stored_fields(session_id: str, document: dict) -> dict:
    """The fields to store: `export` puts `session_id` in front when the session had none."""
    fields = dict(document)
    if next(iter(fields), None) == "session_id" and fields["session_id"] == session_id:
        del fields["session_id"]
    return fields


def target_of(session_id: str, document: dict) -> tuple[str, str, str]:
    """(layout, directory, file name) where a session with this id is written: a MoFA key
    (a document with `key`, or an id no per-agent path can hold) goes to MoFA's file name."""
    agent, sep, name = session_id.partition(":")
    mofa_key = document.get("key") == session_id
    if not mofa_key and sep and is_safe_name(agent) and is_safe_name(name):
        return JSON_LAYOUT, agent, name + JSON_SUFFIX
    stem = mofa_file_stem(session_id)
    if not mofa_key or not stem:
        # Stored under another name, it would come back under another id.
        raise InvalidSessionId(
            f"session id {session_id!r} cannot be stored in a files root: it is"
            " not <agent>:<session> with plain names, nor a MoFA session's key"
        )
    return "jsonl", "", stem + JSONL_SUFFIX


def _dumps(value, indent: int | None = None) -> str:
    if indent is None:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return json.dumps(value, ensure_ascii=False, indent=indent)


def encode(layout: str, fields: dict) -> bytes:
    if layout == JSON_LAYOUT:
        return (_dumps(fields, indent=2) + "\n").encode("utf-8", "surrogatepass")
    header = {key: value for key, value in fields.items() if key != "messages"}
    lines = [_dumps(header)] + [_dumps(message) for message in fields.get("messages") or []]
    return "\n".join(lines).encode("utf-8", "surrogatepass")


def save_document(root: str, session_id: str, document: dict) -> str:
    """Write the session atomically; returns its path."""
    layout, directory, file_name = target_of(session_id, document)
    fields = stored_fields(session_id, document)
    path = os.path.join(root, directory, file_name) if directory else os.path.join(root, file_name)
    write_atomically(path, encode(layout, fields))  # the agent directory is made if need be
    return path


def write_atomically(
    path: str, data: bytes, mode: int | None = None, prefix: str = ".mofa-write-"
) -> None:
    """Write `data` to `path` through a hidden temporary file renamed over it: all or nothing
    (no partial file, the old one whole on failure). Parent directories are created. `mode`:
    the permission bits to give it (those of the file it replaces), else the umask's."""
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
            stream.write(data)
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


def append_message(path: str, layout: str, message: dict) -> None:
    """One more message: a line appended to a MoFA file; a per-agent file rewritten whole."""
    if layout != JSON_LAYOUT:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise SessionNotFound(f"session file vanished: {path}") from None
        except OSError as error:
            raise _failure(error, path) from None
        with os.fdopen(fd, "ab") as handle:
            needs_break = handle.tell() > 0 and not _ends_with_newline(path)
            handle.write(
                (("\n" if needs_break else "") + _dumps(message)).encode("utf-8", "surrogatepass")
            )
        return
    with open(path, "rb") as handle:
        document = json.loads(handle.read())
    messages = document.setdefault("messages", [])
    messages.append(message)
    write_atomically(path, encode(JSON_LAYOUT, document), os.stat(path).st_mode & 0o7777)


def _ends_with_newline(path: str) -> bool:
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def _failure(error: OSError, what: str) -> Exception:
    if isinstance(error, PermissionError):
        return SessionPermissionError(f"permission denied: {what}")
    return StoreError(f"cannot write {what}: {error.strerror or error}")
