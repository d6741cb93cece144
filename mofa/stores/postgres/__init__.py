"""The PostgreSQL store (`mofa --store postgresql://...`).

Needs the psycopg driver (`pip install 'mofa-session[postgres]'`), imported only when this
store is opened.
"""

from __future__ import annotations


def open_postgres_store(url: str, warn=None, notice=None, progress=None):
    """The store at `url`, its schema created or migrated on first use. Raises
    StoreUnavailable (server down, bad URL or credentials, no driver, a newer schema)."""
    from mofa.stores.postgres.connect import driver

    driver()  # a missing driver is named before anything else
    from mofa.stores.postgres.store import PostgresSessionStore

    return PostgresSessionStore(url, warn=warn, notice=notice, progress=progress)
