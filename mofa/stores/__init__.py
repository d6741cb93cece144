"""Stores of sessions behind one interface (`mofa.stores.base.SessionStore`).

`open_store` is the one place that turns a store URL or a sessions root into a store. A URL's
scheme picks the store; the store's module is imported only when it is used, so a command
never pays for a driver it does not need.
"""

from __future__ import annotations

from collections.abc import Callable

from mofa.errors import InvalidStoreLocation
from mofa.paths import resolve_sessions_root, sessions_root_exists
from mofa.stores.base import Progress, Warn

# scheme -> "module:function(url, **options)"; the files store is the default.
SCHEMES = {
    "postgresql": "mofa.stores.postgres:open_postgres_store",
    "postgres": "mofa.stores.postgres:open_postgres_store",
}
# The files store kept in step with its SQLite index, named as the schemes' stores are: the
# library below it (`mofa`) never imports the index package above it (`indexer`).
INDEXED_FILES_STORE = "indexer.store:IndexedSessionStore"


def _named(name: str):
    """The object `module:attribute` names, its module imported on first use."""
    from importlib import import_module

    module, attribute = name.split(":")
    return getattr(import_module(module), attribute)


def store_scheme(url: str) -> str:
    scheme, sep, _ = url.partition("://")
    return scheme.lower() if sep else ""


def open_store(
    url: str | None = None,
    root: str | None = None,
    index_path: str | None = None,
    *,
    root_is_explicit: bool = True,
    indexed: bool = True,
    warn: Warn | None = None,
    notice: Warn | None = None,
    progress: Callable[[str], Progress | None] | None = None,
    debug: Warn | None = None,
    status: Warn | None = None,
):
    """The store named by `url` (`postgresql://...`), else the files under `root` (an absolute
    path), kept in step with their SQLite index at `index_path` unless `indexed` is false.

    A root named explicitly (`root_is_explicit`: an option or variable) that does not exist is
    SessionsRootMissing; the default root missing is an empty store (and no index file).
    `warn` hears what a command mentions but does not stop for, `notice` what the store did by
    itself (an index rebuilt), `status` what it starts on the user's behalf (a watcher: one
    `→` line), `progress(label)` gives a progress callback for long work.
    Raises InvalidStoreLocation for a URL no store takes.
    """
    if url:
        scheme = store_scheme(url)
        if scheme == "file":
            root, root_is_explicit = url[len("file://") :], True
        elif scheme in SCHEMES:
            return _named(SCHEMES[scheme])(url, warn=warn, notice=notice, progress=progress)
        else:
            from mofa.stores.urls import masked

            raise InvalidStoreLocation(
                f"unknown store {masked(url)!r}: expected postgresql://... or file:///path"
            )
    if root is None:
        root = resolve_sessions_root(None)
        root_is_explicit = False

    if not sessions_root_exists(root, root_is_explicit):
        # No sessions yet: answer empty, and make no index for a root that does not exist.
        if notice:
            notice(f"no sessions yet: {root} does not exist")
        index_path = ":memory:"
    if not indexed:
        from mofa.stores.files import FileSessionStore

        return FileSessionStore(root, warn)
    return _named(INDEXED_FILES_STORE)(
        root, index_path, warn=warn, notice=notice, progress=progress, debug=debug, status=status
    )
