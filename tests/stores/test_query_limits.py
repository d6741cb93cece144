"""`query` limits on every store: the client enforces the timeout (writing the output
included), and a value or row too large to print ends the query with one error line."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.helpers import BIN, run_installed, write_session


@pytest.fixture(params=["files", "postgres"])
def store(request, root, monkeypatch) -> str:
    write_session(root, "a", "s")
    if request.param == "postgres":
        pytest.importorskip("psycopg")
        from mofa.stores import open_store

        pg_url = request.getfixturevalue("pg_url")
        with open_store(pg_url) as opened:
            opened.save("a:s", {"messages": []})
        monkeypatch.setenv("MOFA_STORE", pg_url)
    return request.param


SQL = {
    "blob": {"files": "SELECT zeroblob(600)", "postgres": "SELECT repeat('x', 1300)::bytea"},
    "text": {"files": "SELECT hex(zeroblob(650))", "postgres": "SELECT repeat('x', 1300)"},
    "row": {
        "files": "SELECT hex(zeroblob(350)), hex(zeroblob(350))",
        "postgres": "SELECT repeat('x', 700), repeat('y', 700)",
    },
    "late": {
        "files": "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 1000)"
        " SELECT CASE WHEN n < 900 THEN 'x' ELSE hex(zeroblob(1000)) END FROM c",
        "postgres": "SELECT CASE WHEN n < 900 THEN 'x' ELSE repeat('x', 2000) END"
        " FROM generate_series(1, 1000) n",
    },
}


@pytest.mark.parametrize("what", sorted(SQL))
@pytest.mark.parametrize("fmt", ["csv", "json", "table"])
def test_a_value_or_row_larger_than_the_limit_ends_the_query(store, what, fmt):
    result = run_installed(
        "session", "query", SQL[what][store], "-f", fmt, env={"MOFA_QUERY_MAX_BYTES": "1000"}
    )
    assert result.returncode == 3, result.stderr
    assert result.stderr == (
        "Error: query stopped: a value or row is larger than 1,000 bytes (MOFA_QUERY_MAX_BYTES)\n"
    )


def test_values_within_the_limit_are_printed(store):
    sql = {
        "files": "SELECT replace(hex(zeroblob(200)), '0', 'x')",
        "postgres": "SELECT repeat('x', 400)",
    }
    result = run_installed(
        "session", "query", sql[store], "-f", "csv", env={"MOFA_QUERY_MAX_BYTES": "1000"}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == "x" * 400


def test_a_gigabyte_blob_is_refused_before_it_is_built(root):
    write_session(root, "a", "s")
    result = run_installed("session", "query", "SELECT zeroblob(1e9)", "-f", "csv")
    assert result.returncode == 3, result.stderr
    assert "larger than 67,108,864 bytes" in result.stderr and result.stdout == ""


@pytest.mark.parametrize("value", ["x", "-1", "0"])
def test_a_bad_size_limit_is_one_line(root, value):
    write_session(root, "a", "s")
    result = run_installed("session", "query", "SELECT 1", env={"MOFA_QUERY_MAX_BYTES": value})
    assert result.returncode == 1
    assert (
        result.stderr.startswith("Error: MOFA_QUERY_MAX_BYTES=") and result.stderr.count("\n") == 1
    )


def test_a_statement_that_turns_the_servers_timeout_off_is_still_stopped(pg_url, root):
    pytest.importorskip("psycopg")
    result = run_installed(
        "--store",
        pg_url,
        "session",
        "query",
        "SELECT set_config('statement_timeout', '0', true), pg_sleep(60)",
        "--timeout",
        "1",
        timeout=50,
    )
    assert result.returncode == 3, result.stderr
    assert result.stderr.splitlines()[-1] == (
        "Error: query stopped after its timeout of 1 s (give --timeout SECONDS, 0 for none)"
    )
    # The server is free again: the query was cancelled, not left running.
    after = run_installed("--store", pg_url, "session", "query", "SELECT 1 AS one", "-f", "csv")
    assert after.stdout == "one\n1\n"


def test_the_time_spent_writing_the_output_counts(store):
    sql = {
        "files": "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c"
        " WHERE n < 300000) SELECT n FROM c",
        "postgres": "SELECT n FROM generate_series(1, 300000) n",
    }
    process = subprocess.Popen(
        [str(BIN / "mofa"), "session", "query", sql[store], "-f", "csv", "--timeout", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout.readline() == b"n\n"
        time.sleep(4)  # a slow reader: the query's output waits on it, past the timeout
        process.stdout.read()
        stderr = process.stderr.read().decode()
        assert process.wait(timeout=60) == 3, stderr
        assert stderr.startswith("Error: query stopped after its timeout of 2 s")
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
        process.stderr.close()


@pytest.mark.parametrize(
    "value, shown", [("inf", "inf"), ("nan", "nan"), ("Infinity", "inf"), ("1e400", "inf")]
)
def test_a_timeout_that_is_not_a_number_of_seconds_is_a_usage_error(store, value, shown):
    result = run_installed("session", "query", "SELECT 1", "--timeout", value)
    assert result.returncode == 2, result.stderr
    assert result.stderr == f"Error: --timeout {shown}: give a number of seconds (0 for no limit)\n"


def test_a_timeout_too_long_for_a_timer_is_no_limit(store):
    result = run_installed("session", "query", "SELECT 1 AS one", "--timeout", "1e300", "-f", "csv")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "one\n1\n"


@pytest.mark.parametrize("timeout", [None, 0])
def test_the_python_api_takes_no_timeout_as_no_limit(store, root, timeout):
    from mofa.stores import open_store

    url = os.environ.get("MOFA_STORE") if store == "postgres" else None
    with open_store(url, str(root)) as opened:
        result = opened.query("SELECT count(*) AS n FROM sessions", timeout)
        try:
            assert result.columns == ["n"]
            assert list(result.rows) == [(1,)]
        finally:
            result.close()
