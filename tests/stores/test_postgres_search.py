"""Search in the PostgreSQL store: decided by the database over each message's folded words,
narrowed by a pg_trgm index (migration m003) when the server and the role allow one, exact
without it; and what the `index` commands do on a database store.

The contract suite checks the answers against the other stores; these tests check the index
itself, the migration of a database that holds sessions already, a role that may not create
pg_trgm, and the `index` commands as real subprocesses.
"""

from __future__ import annotations

import json
import os
from urllib.parse import urlsplit, urlunsplit

import pytest

from mofa.stores import open_store
from mofa.stores.base import SessionFilter
from mofa.stores.postgres.schema import LATEST_VERSION
from mofa.stores.postgres.search import INDEX, SEPARATOR, like_pattern, word_text
from tests.helpers import run_installed
from tests.pg import PASSWORD, PASSWORD_ROLE

pytest.importorskip("psycopg")


def said(store, session_id: str, created_at: str, *contents: str) -> None:
    store.save(
        session_id,
        {
            "created_at": created_at,
            "messages": [
                {"role": "user", "content": content, "timestamp": created_at}
                for content in contents
            ],
        },
    )


def test_words_are_the_plain_matchers_words_between_separators():
    assert (
        word_text("Crème BRÛLÉE, naïve-ly!")
        == f"{SEPARATOR}creme{SEPARATOR}brulee{SEPARATOR}naive{SEPARATOR}ly{SEPARATOR}"
    )
    assert word_text("... !!") == ""
    # U+037A folds to a space: a word may hold one, so words are not separated by spaces.
    assert word_text("a \u037a b").count(SEPARATOR) == 4
    assert like_pattern(["order", "sta"], True) == f"%{SEPARATOR}order{SEPARATOR}sta%"
    assert like_pattern(["100%_x\\"], False) == f"%{SEPARATOR}100\\%\\_x\\\\{SEPARATOR}%"


@pytest.mark.parametrize(
    "text",
    [
        "Hello, World_42! it's",
        "a\x00b\x1fc__d",
        "",
        "  ",
        "UPPER lower 9x9",
        "naïve ÉCOLE",
        "ß straße",
        "½ ﬁle",
        "x\u037ay",
    ],
)
def test_words_of_ascii_text_take_a_short_cut_to_the_same_words(text):
    from mofa.searching import _words, fold

    words = [fold(word) for word, _, _ in _words(text)]
    assert word_text(text) == (f"{SEPARATOR}{SEPARATOR.join(words)}{SEPARATOR}" if words else "")


def test_a_search_is_narrowed_by_the_trigram_index(pg_url):
    import psycopg

    with open_store(pg_url) as store:
        said(store, "a:one", "2024-01-01T00:00:00Z", "the xylophone is late")
        assert "pg_trgm" in store.status()["search_index"]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")  # a tiny table: show that the index can serve
        plan = "\n".join(
            row[0]
            for row in conn.execute(
                "EXPLAIN SELECT 1 FROM mofa_messages WHERE words LIKE %s",
                (like_pattern(["xylophone"], False),),
            ).fetchall()
        )
    assert f"Bitmap Index Scan on {INDEX}" in plan


def test_hits_are_counted_ordered_and_limited_by_the_database(pg_url):
    with open_store(pg_url) as store:
        for number in range(30):
            said(
                store,
                f"many:s{number:02}",
                f"2024-01-{number + 1:02}T00:00:00Z",
                *(["refund please"] * (number % 4 + 1)),
                "nothing here",
            )
        hits = store.search("refund", SessionFilter(limit=5))
        assert [(hit.session_id, hit.matches) for hit in hits] == [
            ("many:s27", 4),
            ("many:s23", 4),
            ("many:s19", 4),
            ("many:s15", 4),
            ("many:s11", 4),
        ]
        assert hits[0].snippet == "\x02refund\x03 please"
        everything = store.search("refund", SessionFilter(limit=None))
        assert len(everything) == 30 and everything[:5] == hits


def v2_database(url: str) -> None:
    """The schema as mofa 2 left it (migrations 1 and 2), holding one session: its messages
    have `folded`, not `words`."""
    import psycopg

    from mofa.stores.postgres import schema

    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        schema.m001_initial(conn)
        schema.m002_origins(conn)
        conn.execute("CREATE TABLE mofa_schema (version integer NOT NULL)")
        conn.execute("INSERT INTO mofa_schema VALUES (2)")
        conn.execute(
            "INSERT INTO mofa_sessions (session_id, agent, name, created_at,"
            " message_count, status, layout, fields, mtime_ns, content_hash)"
            " VALUES ('old:one', 'old', 'one', '2024-01-01T00:00:00Z', 2, 'active',"
            " 'json', '{}', 0, 'x')"
        )
        for position, text in enumerate(["Où est ma Commande ?", "Refunded, merci."]):
            conn.execute(
                "INSERT INTO mofa_messages (session_id, position, role, text, folded,"
                " message) VALUES ('old:one', %s, 'user', %s, %s, %s)",
                (position, text, text.lower(), json.dumps({"role": "user", "content": text})),
            )


def test_migrating_a_database_that_holds_sessions_computes_their_words(pg_url):
    import psycopg

    v2_database(pg_url)
    with open_store(pg_url) as store:
        assert store.schema_version == LATEST_VERSION
        assert [hit.session_id for hit in store.search("ou commande")] == ["old:one"]
        assert [hit.session_id for hit in store.search("refund*")] == ["old:one"]
        assert store.search("refund") == []
        assert store.verify().problems == []
    with psycopg.connect(pg_url, autocommit=True) as conn:
        columns = {
            row[0]
            for row in conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'mofa_messages' AND table_schema = current_schema()"
            ).fetchall()
        }
        assert "words" in columns and "folded" not in columns
        assert (
            conn.execute(
                "SELECT count(*) FROM pg_indexes WHERE indexname = %s"
                " AND schemaname = current_schema()",
                (INDEX,),
            ).fetchone()[0]
            == 1
        )


@pytest.fixture
def plain_role_db(postgres_server):
    """A fresh database (no pg_trgm in it) and the URL of a role that may create tables in its
    schema `public` but not extensions (no CREATE on the database); the admin URL too."""
    if not postgres_server.own:
        pytest.skip("needs a server of the test session's own (roles and databases are made)")
    admin = postgres_server.admin()
    name = f"mofa_plain_{os.getpid()}"
    admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.execute(f'CREATE DATABASE "{name}"')
    admin.execute(
        "DO $$ BEGIN CREATE ROLE mofa_plain LOGIN; EXCEPTION WHEN duplicate_object"
        " THEN NULL; END $$"
    )
    parts = urlsplit(postgres_server.base_url)
    host = parts.netloc.rpartition("@")[2]
    admin_url = urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))
    plain_url = urlunsplit((parts.scheme, f"mofa_plain@{host}", f"/{name}", parts.query, ""))
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("GRANT ALL ON SCHEMA public TO mofa_plain")
    try:
        yield plain_url, admin_url
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_role_that_may_not_create_pg_trgm_still_searches_exactly(plain_role_db):
    import psycopg

    plain_url, admin_url = plain_role_db
    with open_store(plain_url) as store:
        assert store.schema_version == LATEST_VERSION
        said(store, "a:one", "2024-01-01T00:00:00Z", "Crème brûlée for order 42")
        said(store, "a:two", "2024-01-02T00:00:00Z", "no dessert")
        assert [hit.session_id for hit in store.search('"creme brulee"')] == ["a:one"]
        assert store.status()["search_index"].startswith("none: pg_trgm could not be created")
    status = run_installed("--store", plain_url, "session", "index", "status", "-f", "json")
    assert status.returncode == 0, status.stderr
    assert "index rebuild" in json.loads(status.stdout)["search_index"]
    # Without the extension, rebuild says why it made no index, and succeeds all the same.
    rebuilt = run_installed("--store", plain_url, "session", "index", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "no search index:" in rebuilt.stderr and "permission denied" in rebuilt.stderr
    # Once someone who may has created pg_trgm, a rebuild makes the index.
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_trgm")
    rebuilt = run_installed("--store", plain_url, "session", "index", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "no search index" not in rebuilt.stderr
    with open_store(plain_url) as store:
        assert store.status()["search_index"].startswith(f"pg_trgm GIN {INDEX}")
        assert [hit.session_id for hit in store.search('"creme brulee"')] == ["a:one"]


# -- the index commands on a database store ---------------------------------------------------


def password_url(postgres_server, pg_schema) -> str:
    return postgres_server.url(pg_schema, user=PASSWORD_ROLE, password=PASSWORD)


def test_index_path_says_a_database_keeps_no_index_file(postgres_server, pg_schema):
    url = password_url(postgres_server, pg_schema)
    result = run_installed("--store", url, "session", "index", "path")
    assert result.returncode == 2 and result.stdout == ""
    last = result.stderr.splitlines()[-1]  # after the notice of the schema's creation
    assert last.startswith(
        "Error: the postgresql store keeps no index file (the search index in"
        " the database at postgresql://"
    )
    assert PASSWORD not in result.stderr and "***" in result.stderr


def test_index_rebuild_recomputes_the_search_words_and_says_where(postgres_server, pg_schema):
    url = password_url(postgres_server, pg_schema)
    with open_store(url) as store:
        said(store, "a:one", "2024-01-01T00:00:00Z", "refund please", "thanks")
        said(store, "a:two", "2024-01-02T00:00:00Z", "hello")
    postgres_server.admin().execute(
        f'UPDATE "{pg_schema}".mofa_messages SET words = %s', (word_text("zebra"),)
    )
    with open_store(url) as store:
        assert store.search("refund") == [] and len(store.search("zebra")) == 2
    rebuilt = run_installed("--store", url, "session", "index", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert (
        "→ Rebuilding the search index in the database at postgresql://mofa_password:***@"
        in rebuilt.stderr
    )
    assert "✓ Indexed 2 sessions in " in rebuilt.stderr
    assert "None" not in rebuilt.stderr and PASSWORD not in rebuilt.stderr
    with open_store(url) as store:
        assert [hit.session_id for hit in store.search("refund")] == ["a:one"]
        assert store.search("zebra") == []


def test_index_verify_finds_stale_search_words_and_repairs_them(postgres_server, pg_schema):
    url = password_url(postgres_server, pg_schema)
    with open_store(url) as store:
        said(store, "a:one", "2024-01-01T00:00:00Z", "refund please", "thanks")
    verified = run_installed("--store", url, "session", "index", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "✓ The index agrees with the 1 session in the database" in verified.stderr
    postgres_server.admin().execute(
        f"UPDATE \"{pg_schema}\".mofa_messages SET words = '' WHERE position = 1"
    )
    verified = run_installed("--store", url, "session", "index", "verify")
    assert verified.returncode == 1
    assert verified.stdout == "stale: a:one: message 2: its search words are out of date\n"
    assert verified.stderr.endswith("Error: the index disagrees with the database: 1 stale\n")
    repaired = run_installed("--store", url, "session", "index", "verify", "--repair")
    assert repaired.returncode == 0, repaired.stderr
    assert "✓ Repaired: 1 stale; the index now agrees with the database" in repaired.stderr
    with open_store(url) as store:
        assert [hit.session_id for hit in store.search("thanks")] == ["a:one"]
