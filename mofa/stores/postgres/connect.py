"""Reaching the server: the driver imported on demand, failures worded as one masked line.

psycopg is imported here and in the modules of this package only, so that a command on the
files store never pays for it, and a missing driver is a clear error naming the extra.
"""

from __future__ import annotations

from mofa.errors import StoreUnavailable
from mofa.stores.urls import masked

INSTALL_HINT = "pip install 'mofa-session[postgres]'"

# Seconds to wait for a server that does not answer, unless the URL says otherwise.
CONNECT_TIMEOUT = 10


def driver():
    """The psycopg module, or StoreUnavailable naming the extra that installs it."""
    try:
        import psycopg
    except ImportError:
        raise StoreUnavailable(
            f"the PostgreSQL store needs the psycopg driver: {INSTALL_HINT}"
        ) from None
    return psycopg


def one_line(error: BaseException) -> str:
    """A driver's message as one line (libpq's span several), every password masked."""
    diag = getattr(error, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    text = primary or str(error) or type(error).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return masked("; ".join(lines))


def connect(url: str):
    """A connection in autocommit mode (each method opens the transactions it needs)."""
    psycopg = driver()
    options = {"autocommit": True, "application_name": "mofa"}
    if "connect_timeout" not in url:
        options["connect_timeout"] = CONNECT_TIMEOUT
    try:
        return psycopg.connect(url, **options)
    except psycopg.Error as error:
        raise StoreUnavailable(f"cannot connect to {masked(url)}: {one_line(error)}") from None
