"""The PostgreSQL store's titles (`list --wide`): derived for the sessions a database held
before it had them, and shown by the `sessions` view."""

from __future__ import annotations

from mofa.stores import open_store
from mofa.stores.base import SessionFilter


def test_migrating_a_database_that_holds_sessions_derives_their_titles(pg_url):
    import psycopg

    from mofa.stores.postgres import schema

    with open_store(pg_url) as store:
        store.save(
            "t:named",
            {"created_at": "2024-01-01T00:00:00Z", "metadata": {"title": "Named"}, "messages": []},
        )
        store.save(
            "t:asked",
            {
                "created_at": "2024-01-02T00:00:00Z",
                "metadata": {"title": 3},
                "messages": [
                    {"role": "assistant", "content": "Hello"},
                    {"role": "user", "content": "\nRefund\nplease"},
                ],
            },
        )
        store.save("t:none", {"created_at": "2024-01-03T00:00:00Z", "messages": []})
    # Back to version 6: no title column, no index by activity, the view without the title.
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP VIEW sessions")
        conn.execute("ALTER TABLE mofa_sessions DROP COLUMN title")
        conn.execute("DROP INDEX mofa_sessions_by_activity")
        conn.execute("UPDATE mofa_schema SET version = 6")
    with open_store(pg_url) as store:
        assert store.schema_version == schema.LATEST_VERSION
        rows = store.list(SessionFilter(), wide=True)
        assert [(row.session_id, row.title) for row in rows] == [
            ("t:named", "Named"),
            ("t:asked", "Refund"),
            ("t:none", None),
        ]
        result = store.query("SELECT session_id, title FROM sessions ORDER BY session_id", 30.0)
        try:
            assert list(result.rows) == [
                ("t:asked", "Refund"),
                ("t:named", "Named"),
                ("t:none", None),
            ]
        finally:
            result.close()
