"""The state shared by every command: where the sessions and the index are, and the store."""

from __future__ import annotations

import click

from mofa.cli import console
from mofa.cli.errors import mapped_errors
from mofa.paths import resolve_sessions_root


class App:
    """Resolved once per invocation; opens the index only when a command needs it."""

    def __init__(self, sessions_dir: str | None, index_path: str | None, verbose: bool):
        from indexer.location import resolve_index_path

        self.root = resolve_sessions_root(sessions_dir)
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

            def open_index():
                from indexer.index import open_session_index

                with mapped_errors():
                    return open_session_index(self.root, self.index_path, console.notice)

            self._store = IndexedSessionStore(
                self.root, open_index, console.progress_reporter(progress_label), console.warning,
                self.debug if self.verbose else None)
        return self._store


pass_app = click.make_pass_decorator(App)
