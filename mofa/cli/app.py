"""The state shared by every command: which store, opened once per invocation."""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING

import click

from mofa.cli import console
from mofa.paths import resolve_sessions_root

if TYPE_CHECKING:
    from datetime import tzinfo


class App:
    """Resolved once per invocation; the store is opened when a command first needs it."""

    def __init__(
        self, store_url: str | None, sessions_dir: str | None, index_path: str | None, verbose: bool
    ):

        self.store_url = store_url
        self.root = None if store_url else resolve_sessions_root(sessions_dir)
        self.root_is_explicit = sessions_dir is not None  # the option, or MOFA_SESSIONS_DIR
        self.index_path = index_path
        self.verbose = verbose
        self.timezone: tzinfo | None = None  # `--timezone`: a tzinfo, or None for UTC
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


_pass_app = click.make_pass_decorator(App)


def pass_app(function):
    """click's pass decorator for the App, after checking the text arguments (an id, an agent,
    SQL, a search query): what the shell passed as bytes must be UTF-8, whatever the locale
    decoded it as. Paths may be any bytes, as the file system allows."""
    passed = _pass_app(function)

    @functools.wraps(passed)
    def checked(*args, **kwargs):
        ctx = click.get_current_context()
        for param in ctx.command.params:
            if param.name in kwargs and not isinstance(param.type, click.Path):
                _check_utf8(param, kwargs[param.name])
        return passed(*args, **kwargs)

    return checked


def _check_utf8(param: click.Parameter, value) -> None:
    """Raise CliError (exit 2) when `value` (text, or a tuple of texts) was bytes that are not
    UTF-8. A locale that is not UTF-8 (C without Python's UTF-8 mode) hands any non-ASCII
    bytes over as surrogate escapes: those of valid UTF-8 pass."""
    if isinstance(value, tuple):
        for item in value:
            _check_utf8(param, item)
        return
    if not isinstance(value, str) or value.isascii() or _encodable(value):
        return

    raw = os.fsencode(value)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        from mofa.cli.errors import CliError, ExitStatus

        name = (
            param.opts[-1]
            if isinstance(param, click.Option)
            else param.human_readable_name.removesuffix("...")
        )
        shown = raw.decode("utf-8", "backslashreplace")
        raise CliError(
            f"{name} is not valid UTF-8: {shown}", ExitStatus.PERMISSION_DENIED
        ) from None


def _encodable(text: str) -> bool:
    """False for the surrogate escapes Python decodes undecodable bytes of argv into."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
