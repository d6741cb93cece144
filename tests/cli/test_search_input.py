"""`search` takes any limit and refuses, in one line, a query too long to run."""

from __future__ import annotations

import json

import pytest

from tests.helpers import message, run_installed, write_session


@pytest.mark.parametrize("limit", ["9223372036854775807", "9223372036854775808", "1" + "0" * 40])
def test_a_limit_larger_than_sql_can_count_means_every_session(root, limit):
    write_session(root, "a", "s", messages=[message("user", "refund please")])
    result = run_installed("session", "search", "refund", "-n", limit, "-f", "json")
    assert result.returncode == 0, result.stderr
    assert [row["session_id"] for row in json.loads(result.stdout)] == ["a:s"]


@pytest.fixture(params=["files", "postgres"])
def store_args(request, root) -> tuple[str, ...]:
    write_session(root, "a", "s", messages=[message("user", "refund please")])
    if request.param == "files":
        return ()
    pytest.importorskip("psycopg")
    from mofa.stores import open_store

    pg_url = request.getfixturevalue("pg_url")
    with open_store(pg_url) as store:
        store.save("a:s", {"messages": [message("user", "refund please")]})
    return ("--store", pg_url)


@pytest.mark.parametrize(
    "query",
    [
        " ".join(["refund"] * 65),
        " ".join(['"refund please"'] * 65),
        "refund " + "x" * 994,
        " ".join(f"w{number}" for number in range(12_000)),
    ],
)
def test_a_query_of_too_many_terms_or_characters_is_refused(store_args, query):
    result = run_installed(*store_args, "session", "search", query)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: search query ")
    assert result.stdout == ""


@pytest.mark.parametrize(
    "query", [" ".join(["refund"] * 64), "refund " + "p" * 993, "  ".join(["refund"] * 64)]
)
def test_a_query_at_the_limits_runs(store_args, query):
    result = run_installed(*store_args, "session", "search", query, "-f", "json")
    assert result.returncode == 0, result.stderr
