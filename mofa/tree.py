"""Walking the sessions root: which directories hold sessions and which files are sessions.

Hidden names, symlinks, temporary files and other extensions are never sessions.
"""

# No `from __future__ import annotations`: NamedTuple turns each string annotation into a
# compiled ForwardRef, twice the cost of defining the class on every command's start-up.

import errno
import os
from stat import S_ISDIR, S_ISREG
from typing import NamedTuple

from mofa.errors import CorruptSession, SessionPermissionError, StoreError
from mofa.ids import is_safe_name
from mofa.plurals import counted
from mofa.session import JSON_SUFFIX, JSONL_SUFFIX


class FileStat(NamedTuple):
    """A session file's name in its directory and the stat fields that reveal a change."""

    name: str
    size: int
    mtime_ns: int
    ino: int
    ctime_ns: int


class RootListing(NamedTuple):
    agents: list[str]
    jsonl: list[FileStat]


class DirScan(NamedTuple):
    """One directory read through a descriptor: its own stat (fstat of that descriptor), the
    names of its session files, a hash of each one's (size, mtime_ns, inode, ctime_ns), their
    digest, those stat keys themselves when asked for (else None: most refreshes only need the
    digest, and keeping a stat per file costs more than the stat), and for the root its agent
    directories."""

    stat: os.stat_result
    names: list[str]
    hashes: list[int]
    keys: list[tuple] | None
    digest: int
    agents: list[str]


def _os_failure(error: OSError, what: str) -> Exception:
    # The library's exceptions are imported where something fails: a listing that finds its

    if error.errno in (errno.EACCES, errno.EPERM):
        return SessionPermissionError(f"permission denied: {what}")
    return StoreError(f"cannot read {what}: {error.strerror or error}")


def utf8_name(name: str) -> bool:
    """True when a name from the file system is valid UTF-8 (else it holds surrogate escapes,
    and no id, and no index row, can name it)."""
    if name.isascii():
        return True
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_agent_name(name: str) -> bool:
    """True when `name` can be an agent directory: one visible path component, valid UTF-8.

    The one rule for every caller, whatever a command names (`list --agent`): hidden names,
    `.` and `..`, and names with a `/` are never read.
    """
    # The same rule as a per-agent id's parts: every listed id must resolve back to its file.
    return usable_name(name)


def _not_utf8(parent: str, name: str, what: str, skipped: list | None) -> None:
    if skipped is not None:
        skipped.append(
            f"{os.path.join(parent, name)}: the {what} name is not valid UTF-8; left out"
        )


def usable_name(name: str) -> bool:
    """True when a per-agent directory or file stem can stand in an id that resolves back to
    it (`mofa.ids.is_safe_name`) and is valid UTF-8."""

    return is_safe_name(name) and utf8_name(name)


def is_session_name(directory: str, name: str) -> bool:
    """The one rule for what is a session file's name: in an agent directory (`directory`, which
    must pass `is_agent_name`), `<session>.json` whose stem an id can name; in the root
    (`directory` ''), MoFA's `<file>.jsonl`, any visible UTF-8 name. Hidden names (temporary
    files, cookies) never are. The scans below inline this rule for speed; a test holds them to
    it. Whether the entry is a regular file, not a link, is for the caller's stat to say."""
    if not name or name[0] == ".":
        return False
    if directory:
        return (
            is_agent_name(directory)
            and name.endswith(JSON_SUFFIX)
            and usable_name(name[: -len(JSON_SUFFIX)])
        )
    return name.endswith(JSONL_SUFFIX) and len(name) > len(JSONL_SUFFIX) and utf8_name(name)


def _unusable(parent: str, name: str, what: str, skipped: list | None) -> None:
    if skipped is None:
        return
    if not utf8_name(name):
        _not_utf8(parent, name, what, skipped)
    else:
        skipped.append(
            f"{os.path.join(parent, name)}: the {what} name holds a '\\' or a control"
            " character, which no session id can name; left out"
        )


def scan_root(root: str, skipped: list | None = None) -> RootListing:
    """Agent directories and MoFA `.jsonl` files directly under the root (a missing root is empty).

    Names that are not UTF-8 are left out, each with a line in `skipped`.
    """
    scan = scan_dir(root, False, skipped, keep_keys=True)
    if scan is None:
        return RootListing([], [])
    return RootListing(scan.agents, file_stats(scan))


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def file_stats(scan: DirScan) -> list[FileStat]:
    if scan.keys is None:
        raise ValueError("file_stats needs a scan made with keep_keys")
    return [FileStat(name, *key) for name, key in zip(scan.names, scan.keys, strict=True)]


def scan_dir(
    path: str, agent: bool, skipped: list | None = None, keep_keys: bool = False
) -> DirScan | None:
    """Read one directory: an agent directory (`agent`: never through a symlink, even one
    swapped in after the caller looked, O_NOFOLLOW), or the root (a symlinked root is
    followed). None when it is gone, or is not a directory.

    Every file is stat-ed relative to the directory's descriptor (fstatat), so the kernel does
    not walk the whole path again for each; the digest is summed in the same pass. Raises
    SessionPermissionError or StoreError when the directory exists but cannot be read.
    """
    fd = _open_dir(path, agent)
    if fd is None:
        return None
    try:
        return _scan_fd(fd, path, agent, skipped, keep_keys)
    finally:
        os.close(fd)


def _open_dir(path: str, agent: bool) -> int | None:
    """A descriptor of the directory at `path` (an agent directory never through a symlink);
    None when it is gone or is not a directory."""
    try:
        return os.open(path, _DIR_FLAGS | (os.O_NOFOLLOW if agent else 0))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        if error.errno == errno.ELOOP:  # a symlink: not an agent directory
            return None
        raise _os_failure(error, path) from None


def _entries(fd: int, path: str):
    """os.scandir of the directory open as `fd` (whose path is `path`, for the error)."""
    try:
        return os.scandir(fd)
    except OSError as error:
        raise _os_failure(error, path) from None


def _scan_fd(fd: int, path: str, agent: bool, skipped: list | None, keep_keys: bool) -> DirScan:
    # What every command without the watcher pays per session file beyond the stat itself:
    # DirEntry.stat of a scandir(fd) is an fstatat(fd, name) (no walk of the whole path), and
    # of each stat only a hash is kept (keeping the stat objects costs more than the stat).
    dir_stat = os.fstat(fd)
    names: list[str] = []
    hashes: list[int] = []
    keys: list[tuple] | None = [] if keep_keys else None
    agents: list[str] = []
    add_name, add_hash = names.append, hashes.append
    add_key = keys.append if keys is not None else None
    suffix = JSON_SUFFIX if agent else JSONL_SUFFIX
    with _entries(fd, path) as iterator:
        for entry in iterator:
            name = entry.name
            if name[0] == ".":
                continue
            if name.endswith(suffix):
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if S_ISREG(st.st_mode):
                    key = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
                    add_name(name)
                    add_hash(hash(key))
                    if add_key is not None:
                        add_key(key)
                    continue
                if agent or not S_ISDIR(st.st_mode):
                    continue
                # An agent directory may be named `<x>.jsonl`: its sessions are read too.
            elif agent or not entry.is_dir(follow_symlinks=False):
                continue
            if is_agent_name(name):
                agents.append(name)
            else:
                _unusable(path, name, "directory", skipped)
    _drop_unusable(names, hashes, keys, path, agent, skipped)
    return DirScan(
        dir_stat, names, hashes, keys, digest_of(dir_stat, len(names), sum(hashes)), agents
    )


def digest_of(dir_stat: os.stat_result, files: int, hash_sum: int) -> int:
    """A directory's digest: its own stat, the number of its session files and the sum of the
    hashes of their stat keys (a sum, so that whoever stats the files may add them up in parts)."""
    digest = hash((dir_stat.st_ino, dir_stat.st_mtime_ns, dir_stat.st_ctime_ns)) + files + hash_sum
    return digest & 0x7FFF_FFFF_FFFF_FFFF


def list_dir(
    path: str, agent: bool, skipped: list | None = None
) -> tuple[os.stat_result, list[str]] | None:
    """The stat of an agent directory (never through a symlink) and the names of the files in it
    that scan_dir would stat, without a stat of each: the directory entry's type says which are
    regular files. For a cold build, whose workers stat each file on the descriptor they read
    it through (`indexer.build.coldbuild`). None when the directory is gone; raises as scan_dir
    does."""
    fd = _open_dir(path, agent)
    if fd is None:
        return None
    try:
        dir_stat = os.fstat(fd)
        suffix = JSON_SUFFIX if agent else JSONL_SUFFIX
        with _entries(fd, path) as iterator:
            # is_file(follow_symlinks=False) reads the entry's d_type: no stat (one only where
            # the file system does not say).
            names = [
                entry.name
                for entry in iterator
                if entry.name[0] != "."
                and entry.name.endswith(suffix)
                and entry.is_file(follow_symlinks=False)
            ]
    finally:
        os.close(fd)
    _drop_unusable(names, None, None, path, agent, skipped)
    return dir_stat, names


def _drop_unusable(names, hashes, keys, path: str, agent: bool, skipped: list | None) -> None:
    """Leave out (in place, with a line in `skipped`) the files no id can name. Nearly always
    there is none: one pass of plain string tests says so, before the slow way."""
    if all(name.isprintable() and "\\" not in name for name in names):
        return
    for position in range(len(names) - 1, -1, -1):
        name = names[position]
        if agent:
            if (name.isprintable() and "\\" not in name) or usable_name(name[: -len(JSON_SUFFIX)]):
                continue
            _unusable(path, name, "file", skipped)
        elif utf8_name(name):
            continue
        else:
            _not_utf8(path, name, "file", skipped)
        del names[position]
        if hashes is not None:
            del hashes[position]
        if keys is not None:
            del keys[position]


def stat_files(path: str, agent: bool, names: list[str]) -> dict[str, FileStat]:
    """The FileStat of each of `names` in one directory that is (still) a regular file, stat-ed
    through the directory's descriptor as scan_dir does."""
    found: dict[str, FileStat] = {}
    try:
        fd = os.open(path, _DIR_FLAGS | (os.O_NOFOLLOW if agent else 0))
    except OSError:
        return found
    try:
        for name in names:
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError:
                continue
            if S_ISREG(st.st_mode):
                found[name] = FileStat(name, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
    finally:
        os.close(fd)
    return found


def scan_agent_dir(directory: str, skipped: list | None = None) -> list[FileStat] | None:
    """The `.json` session files of one agent directory; None when the directory is gone.

    Raises SessionPermissionError or StoreError when it exists but cannot be read. Names that
    are not UTF-8 are left out, each with a line in `skipped`.
    """
    scan = scan_dir(directory, True, skipped, keep_keys=True)
    return None if scan is None else file_stats(scan)


def session_files(
    root: str, agents: list[str] | None = None, skipped: list | None = None
) -> list[tuple[str, list[FileStat]]]:
    """(directory, session files) for each agent directory (all, or `agents`), then ('', the
    root's JSONL files). An agent directory that cannot be read is left out with a line in
    `skipped`; without `skipped`, its error is raised."""

    listing = scan_root(root, skipped)
    places = []
    for agent in listing.agents if agents is None else filter(is_agent_name, agents):
        try:
            files = scan_agent_dir(os.path.join(root, agent), skipped)
        except (SessionPermissionError, StoreError) as error:
            if skipped is None:
                raise
            skipped.append(f"{error}; its sessions are left out")
            continue
        if files:
            places.append((agent, files))
    places.append(("", listing.jsonl))
    return places


def regular_file_stat(path: str) -> os.stat_result | None:
    """lstat of a path when it is a regular file (not a symlink), else None."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st if S_ISREG(st.st_mode) else None


DEFAULT_MAX_SESSION_BYTES = 256 * 1024 * 1024
_max_bytes_cache: tuple = (None, DEFAULT_MAX_SESSION_BYTES)


def max_session_bytes() -> int:
    """`MOFA_MAX_SESSION_BYTES` (a positive integer), else 256 MiB: larger files are not read."""
    global _max_bytes_cache
    raw = os.environ.get("MOFA_MAX_SESSION_BYTES")
    if raw != _max_bytes_cache[0]:
        try:
            value = int(raw) if raw else DEFAULT_MAX_SESSION_BYTES
        except ValueError:
            value = DEFAULT_MAX_SESSION_BYTES
        _max_bytes_cache = (raw, value if value > 0 else DEFAULT_MAX_SESSION_BYTES)
    return _max_bytes_cache[1]


def check_size(path: str, size: int, limit: int) -> None:
    """Raise CorruptSession for a session file too large to read (a 2 GB file would cost
    seconds and gigabytes of memory for every command that meets it)."""
    if size > limit:
        raise CorruptSession(
            path,
            f"too large: {counted(size, 'byte')}, more than MOFA_MAX_SESSION_BYTES ({limit});"
            " not read",
        )
