"""The state shared by every command: which store, opened once per invocation."""

from __future__ import annotations

import click

from mofa.cli import console


class App:
    """Resolved once per invocation; the store is opened when a command first needs it."""

    def __init__(
        self, store_url: str | None, sessions_dir: str | None, index_path: str | None, verbose: bool
    ):
        from mofa.paths import resolve_sessions_root

        self.store_url = store_url
        self.root = None if store_url else resolve_sessions_root(sessions_dir)
        self.root_is_explicit = sessions_dir is not None  # the option, or MOFA_SESSIONS_DIR
        self.index_path = index_path
        self.verbose = verbose
        self.timezone = None  # `--timezone`: a tzinfo, or None for UTC
        self._store = None

    def debug(self, text: str) -> None:
        if self.verbose:
            console.notice(text)

    def store(self):
        """The store of this invocation (`mofa.stores.base.SessionStore`)."""
        if self._store is None:
            from mofa.stores import open_store

            self._store = open_store(
                self.store_url,
                self.root,
                self.index_path,
                root_is_explicit=self.root_is_explicit,
                warn=console.warning,
                notice=console.notice,
                progress=console.progress_reporter,
                debug=self.debug if self.verbose else None,
                status=console.status,
            )
        return self._store

    def close(self) -> None:
        """Close the store, if a command opened it (click calls this when the command ends)."""
        store, self._store = self._store, None
        if store is not None:
            store.close()


pass_app = click.make_pass_decorator(App)
