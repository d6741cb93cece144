"""`mofa session query`: read-only, enforced by SQLite (read-only connection and authorizer)."""

import contextlib
import csv
import io
import json
import os
import sqlite3

import pytest

from indexer.index.migrations import LATEST_VERSION
from tests.helpers import message, run, write_session


@pytest.fixture
def sessions(root):
    write_session(root, "a", "s1", [message("user", "x")] * 3, metadata={"user_id": "u1"})
    write_session(
        root, "a", "s2", [], metadata={"user_id": "u2"}, created_at="2024-03-01T00:00:00Z"
    )
    write_session(root, "b", "s3", [message("user", "x")] * 5, metadata={"user_id": "u1"})
    return root


def test_query_refreshes_first_and_prints_a_table(sessions):
    result = run(
        "session", "query", "SELECT agent, count(*) AS sessions FROM sessions GROUP BY agent"
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "┌───────┬──────────┐",
        "│ agent │ sessions │",
        "├───────┼──────────┤",
        "│ a     │ 2        │",
        "│ b     │ 1        │",
        "└───────┴──────────┘",
    ]
    write_session(sessions, "c", "new")
    assert "│ c " in run("session", "query", "SELECT agent FROM sessions").stdout


def test_json_is_json_dumps_text_whatever_the_values(sessions):
    """Plain rows are written without the json module, in json.dumps's own text."""
    sql = (
        "SELECT 'plain' AS text, 'a \"quote\"' AS quoted, 'back\\slash' AS slash,"
        " char(10) AS newline, 'é ✓' AS unicode, char(127) AS del, 42 AS int, -0.5 AS float,"
        " 1e999 AS inf, NULL AS nil,"
        " x'00ff' AS blob, 3.0 AS whole"
    )
    out = run("session", "query", sql, "-f", "json").stdout
    value = {
        "text": "plain",
        "quoted": 'a "quote"',
        "slash": "back\\slash",
        "newline": "\n",
        "unicode": "é ✓",
        "del": "\x7f",
        "int": 42,
        "float": -0.5,
        "inf": None,
        "nil": None,
        "blob": "00ff",
        "whole": 3.0,
    }
    assert out == "[\n  " + json.dumps(value, ensure_ascii=False) + "\n]\n"
    plain = run(
        "session",
        "query",
        "SELECT agent, count(*) AS n, 0.25 AS f, NULL AS z FROM sessions GROUP BY agent",
        "-f",
        "json",
    ).stdout
    assert (
        plain
        == "[\n  "
        + ",\n  ".join(
            json.dumps({"agent": agent, "n": n, "f": 0.25, "z": None})
            for agent, n in (("a", 2), ("b", 1))
        )
        + "\n]\n"
    )
    odd_column = run("session", "query", 'SELECT 1 AS "a""b"', "-f", "json").stdout
    assert odd_column == "[\n  " + json.dumps({'a"b': 1}) + "\n]\n"


def test_json_and_csv(sessions):
    sql = (
        "SELECT user_id, sum(message_count) AS messages FROM sessions"
        " GROUP BY user_id ORDER BY 2 DESC"
    )
    assert json.loads(run("session", "query", sql, "-f", "json").stdout) == [
        {"user_id": "u1", "messages": 8},
        {"user_id": "u2", "messages": 0},
    ]
    rows = list(
        csv.reader(io.StringIO(run("session", "query", sql, "--output-format", "csv").stdout))
    )
    assert rows == [["user_id", "messages"], ["u1", "8"], ["u2", "0"]]
    assert json.loads(run("session", "query", "SELECT 1 WHERE 0", "-f", "json").stdout) == []


def test_readme_example_queries(sessions):
    empty = run(
        "session", "query", "SELECT session_id FROM sessions WHERE status = 'empty'", "-f", "json"
    )
    assert json.loads(empty.stdout) == [{"session_id": "a:s2"}]
    days = run(
        "session",
        "query",
        "SELECT substr(created_at, 1, 10) AS day, count(*) AS n FROM sessions"
        " GROUP BY day ORDER BY n DESC",
        "-f",
        "json",
    )
    assert json.loads(days.stdout)[0] == {"day": "2024-02-28", "n": 2}


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM sessions",
        "UPDATE sessions SET status = 'x'",
        "INSERT INTO sessions (session_id) VALUES ('x')",
        "DROP TABLE sessions",
        "DROP INDEX sessions_by_agent",
        "CREATE TABLE evil (x)",
        "CREATE TEMP TABLE evil (x)",
        "CREATE VIEW v AS SELECT 1",
        "ALTER TABLE sessions ADD COLUMN x",
        "ATTACH DATABASE '{victim}' AS v",
        "VACUUM",
        "VACUUM INTO '{victim}'",
        "PRAGMA user_version = 99",
        "PRAGMA journal_mode = DELETE",
        "PRAGMA writable_schema = ON",
        "REINDEX",
        "ANALYZE",
        "BEGIN",
        "SELECT 1; DELETE FROM sessions",
        "SELECT load_extension('/tmp/x')",
        "REPLACE INTO sessions (session_id) VALUES ('x')",
        "WITH x AS (SELECT 1) DELETE FROM sessions",
    ],
)
def test_nothing_can_write(sessions, index_path, tmp_path, sql):
    run("session", "list")
    victim = tmp_path / "victim.db"
    with contextlib.closing(sqlite3.connect(index_path)) as conn:
        before = conn.execute(
            "SELECT count(*), (SELECT user_version FROM pragma_user_version) FROM sessions"
        ).fetchone()
    snapshot = sorted(os.listdir(tmp_path))
    result = run("session", "query", sql.format(victim=victim))
    assert result.exit_code == 1, result.stdout
    assert result.stderr.startswith("Error: "), result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not victim.exists()
    assert sorted(os.listdir(tmp_path)) == snapshot
    conn = sqlite3.connect(index_path)
    assert (
        conn.execute(
            "SELECT count(*), (SELECT user_version FROM pragma_user_version) FROM sessions"
        ).fetchone()
        == before
    )
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_read_only_pragmas_are_allowed(sessions):
    result = run("session", "query", "PRAGMA table_info(sessions)", "-f", "json")
    assert "session_id" in [row["name"] for row in json.loads(result.stdout)]
    assert json.loads(run("session", "query", "PRAGMA user_version", "-f", "json").stdout) == [
        {"user_version": LATEST_VERSION}
    ]


def test_bad_sql_is_one_line_with_sqlite_message(sessions):
    result = run("session", "query", "SELEC * FROM sessions")
    assert (result.exit_code, result.stderr) == (
        1,
        'Error: SQL error: near "SELEC": syntax error\n',
    )
    result = run("session", "query", "SELECT nope FROM sessions")
    assert result.stderr == "Error: SQL error: no such column: nope\n"
