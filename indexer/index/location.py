"""Where the index of a sessions root lives: MOFA_INDEX_PATH, else one file per root in the
user's cache directory, outside the watched tree."""

from __future__ import annotations

import os

MEMORY = ":memory:"  # SQLite's name for an index kept in memory (no file can be kept, no root yet)


def cache_home(environ=os.environ) -> str:
    configured = environ.get("XDG_CACHE_HOME")
    if configured and os.path.isabs(configured):
        return configured
    return os.path.join(os.path.expanduser("~"), ".cache")


def resolve_index_path(root: str, option: str | None = None, environ=os.environ) -> str:
    """The index file of `root`: `option` (--index), else MOFA_INDEX_PATH, else one file per
    root in the cache directory. Absolute, like the sessions root."""
    configured = option or environ.get("MOFA_INDEX_PATH")
    if configured:
        return os.path.abspath(os.path.expanduser(configured))
    import zlib

    real = os.fsencode(os.path.realpath(root))
    # 64 bits of checksum name the file; the index also records its root and re-adopts a file
    # that another root has, so even a collision costs a rebuild, never a wrong answer.
    digest = f"{zlib.crc32(real):08x}{zlib.adler32(real[::-1]):08x}"
    name = os.path.basename(os.fsdecode(real).rstrip("/")) or "root"
    slug = "".join(c if c.isascii() and (c.isalnum() or c in "_.-") else "-" for c in name)[:40]
    return os.path.join(cache_home(environ), "mofa", "index", f"{slug}-{digest}.sqlite3")


def root_lock_path(root: str, environ=os.environ) -> str:
    """A file named for the root alone (whatever index a watcher writes), whose lock keeps one
    mofa-indexd per root: `<the root's default index>.root`."""
    return (
        resolve_index_path(
            root, None, {key: value for key, value in environ.items() if key != "MOFA_INDEX_PATH"}
        )
        + ".root"
    )
