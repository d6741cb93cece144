"""`query`'s relations: `sessions` (tags included) and `messages` on both stores, and the
read-only table-valued functions json_each / json_tree on the SQLite index."""

from __future__ import annotations

import contextlib
import json
import sqlite3

import pytest

from mofa.documents import export_document
from mofa.stores import open_store
from tests.helpers import message, run, write_session

MESSAGES = [
    message("user", "hello", "2024-02-28T10:30:01Z"),
    message("assistant", "", None),
    message("tool", {"a": ["bc", "d"], "n": 1}, "2024-02-28T10:31:00+02:00"),
]


@pytest.fixture
def sessions(root):
    write_session(root, "a", "s1", MESSAGES, metadata={"user_id": "u1", "tags": ["x y", "é", 'q"']})
    write_session(root, "b", "s2", [message("user", "ok")], metadata={"user_id": "u2"})
    return root


def query_json(*args) -> list[dict]:
    result = run(*args, "-f", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def relations(store: list[str]) -> dict:
    base = [*store, "session", "query"]
    return {
        "messages": query_json(
            *base,
            "SELECT session_id, position, role, timestamp, chars FROM messages"
            " ORDER BY session_id, position",
        ),
        "tags": query_json(*base, "SELECT session_id, tags FROM sessions ORDER BY session_id"),
    }


EXPECTED = {
    "messages": [
        {
            "session_id": "a:s1",
            "position": 1,
            "role": "user",
            "timestamp": "2024-02-28T10:30:01Z",
            "chars": 5,
        },
        {"session_id": "a:s1", "position": 2, "role": "assistant", "timestamp": None, "chars": 0},
        {
            "session_id": "a:s1",
            "position": 3,
            "role": "tool",
            "timestamp": "2024-02-28T10:31:00+02:00",
            "chars": 4,  # "bc\nd": the strings inside structured content, one per line
        },
        {
            "session_id": "b:s2",
            "position": 1,
            "role": "user",
            "timestamp": "2024-02-28T10:30:05Z",
            "chars": 2,
        },
    ],
    "tags": [
        {"session_id": "a:s1", "tags": '["x y", "é", "q\\""]'},
        {"session_id": "b:s2", "tags": None},
    ],
}


def test_messages_and_tags_on_the_file_index(sessions):
    assert relations([]) == EXPECTED


def test_messages_and_tags_on_postgresql_are_the_same(sessions, pg_url):
    files = open_store(root=str(sessions), indexed=False)
    with open_store(pg_url) as database:
        for row in files.list():
            database.save(row.session_id, export_document(files.get(row.session_id)))
    assert relations(["--store", pg_url]) == EXPECTED


def test_messages_follow_a_changed_session(sessions):
    assert len(query_json("session", "query", "SELECT * FROM messages")) == 4
    write_session(sessions, "a", "s1", [message("user", "one more")] * 2)
    rows = query_json(
        "session", "query", "SELECT position, chars FROM messages WHERE session_id = 'a:s1'"
    )
    assert rows == [{"position": 1, "chars": 8}, {"position": 2, "chars": 8}]


def test_json_each_and_json_tree_over_tags(sessions):
    assert query_json(
        "session", "query", "SELECT session_id, value FROM sessions, json_each(tags)"
    ) == [
        {"session_id": "a:s1", "value": "x y"},
        {"session_id": "a:s1", "value": "é"},
        {"session_id": "a:s1", "value": 'q"'},
    ]
    tree = query_json(
        "session", "query", "SELECT type FROM sessions, json_tree(tags) WHERE tags IS NOT NULL"
    )
    assert [row["type"] for row in tree] == ["array", "text", "text", "text"]
    assert query_json("session", "query", "SELECT count(*) AS n FROM json_each('[1, 2]')") == [
        {"n": 2}
    ]


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE sqlite_master SET sql = 'x'",
        "UPDATE sqlite_schema SET sql = 'x' WHERE name = 'sessions'",
        "PRAGMA data_version = 3",
        "DELETE FROM messages",
        "INSERT INTO search_messages (rowid, content) VALUES (1, 'x')",
        "DROP VIEW messages",
        "SELECT value FROM json_each('[1]'); DELETE FROM sessions",
    ],
)
def test_the_relations_open_nothing_writable(sessions, index_path, sql):
    run("session", "query", "SELECT count(*) FROM messages")
    with contextlib.closing(sqlite3.connect(index_path)) as conn:
        before = conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    result = run("session", "query", sql)
    assert result.exit_code == 1, result.stdout
    assert result.stderr.startswith("Error: ") and len(result.stderr.splitlines()) == 1
    with contextlib.closing(sqlite3.connect(index_path)) as conn:
        assert conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == before
        assert conn.execute("SELECT count(*) FROM search_rows").fetchone() == (4,)


def test_postgresql_relations_open_nothing_writable(sessions, pg_url):
    files = open_store(root=str(sessions), indexed=False)
    with open_store(pg_url) as database:
        database.save("a:s1", export_document(files.get("a:s1")))
    for sql in ("DELETE FROM messages", "UPDATE sessions SET tags = NULL"):
        result = run("--store", pg_url, "session", "query", sql)
        assert result.exit_code == 1, result.stdout
        assert result.stderr.startswith("Error: ")
    assert len(query_json("--store", pg_url, "session", "query", "SELECT * FROM messages")) == 3


ODD_ROLES = [message("", "empty role"), message(None, "null role"), message(7, "a number")]


def odd_roles(store: list[str]) -> list:
    return query_json(
        *store, "session", "query", "SELECT position, role FROM messages ORDER BY position"
    )


def test_an_empty_or_missing_role_reads_as_in_the_file_on_both_stores(root, pg_url):
    write_session(root, "a", "odd", ODD_ROLES)
    expected = [
        {"position": 1, "role": ""},
        {"position": 2, "role": None},
        {"position": 3, "role": None},  # not a string: no role, as a --role search sees it
    ]
    assert odd_roles([]) == expected
    files = open_store(root=str(root), indexed=False)
    with open_store(pg_url) as database:
        database.save("a:odd", export_document(files.get("a:odd")))
    assert odd_roles(["--store", pg_url]) == expected
