"""`query` output on every store: repeated column names keep every value."""

from __future__ import annotations

import json

import pytest

from tests.helpers import run_installed, write_session


@pytest.fixture(params=["files", "postgres"])
def store_args(request, root) -> tuple[str, ...]:
    write_session(root, "a", "s")
    if request.param == "files":
        return ()
    pytest.importorskip("psycopg")
    from mofa.stores import open_store

    pg_url = request.getfixturevalue("pg_url")
    with open_store(pg_url) as store:
        store.save("a:s", {"messages": []})
    return ("--store", pg_url)


def _json_rows(store_args, sql: str) -> list[dict]:
    result = run_installed(*store_args, "session", "query", sql, "-f", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_repeated_column_names_are_numbered_in_json(store_args):
    rows = _json_rows(store_args, "SELECT 1 AS a, 2 AS a, 3 AS a, 'x' AS b")
    assert rows == [{"a": 1, "a_2": 2, "a_3": 3, "b": "x"}]


def test_a_numbered_name_never_replaces_a_real_column_of_that_name(store_args):
    rows = _json_rows(store_args, "SELECT 1 AS a, 2 AS a, 3 AS a_2, 4 AS a")
    assert rows == [{"a": 1, "a_3": 2, "a_2": 3, "a_4": 4}]
    assert len(rows[0]) == 4


def test_repeated_names_that_need_escaping_keep_every_value(store_args):
    sql = 'SELECT 1 AS "q""", \'é\u2028\' AS "q""", NULL AS "q"""'
    rows = _json_rows(store_args, sql)
    assert list(rows[0].values()) == [1, "é\u2028", None]


def test_a_self_join_keeps_both_ids(store_args):
    rows = _json_rows(
        store_args,
        "SELECT s.session_id, t.session_id FROM sessions s JOIN sessions t"
        " ON t.session_id = s.session_id",
    )
    assert rows == [{"session_id": "a:s", "session_id_2": "a:s"}]
