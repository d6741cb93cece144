"""The state shared by every command: where the sessions and the index are, and the store."""

from __future__ import annotations

import click

from mofa.cli import console
from mofa.paths import resolve_sessions_root, sessions_root_exists


class App:
    """Resolved once per invocation; opens the index only when a command needs it."""

    def __init__(self, sessions_dir: str | None, index_path: str | None, verbose: bool):
        from indexer.location import resolve_index_path

        self.root = resolve_sessions_root(sessions_dir)
        self.root_is_explicit = sessions_dir is not None  # the option, or MOFA_SESSIONS_DIR
        self.index_path = resolve_index_path(self.root, index_path)
        self.verbose = verbose
        self._store = None

    def debug(self, text: str) -> None:
        if self.verbose:
            console.notice(text)

    def store(self, progress_label: str = "Indexing sessions"):
        """The index-backed session store; its index is opened (or repaired) on first use."""
        if self._store is None:
            from indexer.store import IndexedSessionStore

            if sessions_root_exists(self.root, self.root_is_explicit):
                def open_index():
                    from indexer.index import open_session_index

                    return open_session_index(self.root, self.index_path, console.notice)
            else:
                # No sessions yet, and no index is made for a root that does not exist.
                console.notice(f"no sessions yet: {self.root} does not exist")

                def open_index():
                    from indexer.database import MEMORY
                    from indexer.index import SessionIndex

                    return SessionIndex(self.root, MEMORY, console.notice)

            self._store = IndexedSessionStore(
                self.root, open_index, console.progress_reporter(progress_label), console.warning,
                self.debug if self.verbose else None)
        return self._store

    def close(self) -> None:
        """Close the index, if a command opened it (click calls this when the command ends)."""
        store, self._store = self._store, None
        if store is not None:
            store.close()


pass_app = click.make_pass_decorator(App)
