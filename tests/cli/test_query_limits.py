"""`query`: a timeout, Ctrl-C, a bounded table, streamed json and csv, strict JSON numbers."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import time

import pytest

from tests.helpers import BIN, run, run_installed, write_session

FOREVER = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)"


@pytest.fixture
def sessions(root):
    write_session(root, "a", "s1")
    return root


def _limit_memory():
    """The old code grew without bound on these queries: never let it take the machine."""
    resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))


def _mofa(*args, **kwargs):
    return subprocess.Popen([str(BIN / "mofa"), *args], preexec_fn=_limit_memory, **kwargs)


def _stop(process):
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def test_a_query_stops_at_its_timeout(sessions):
    result = run_installed(
        "session",
        "query",
        f"{FOREVER} SELECT count(*) FROM c",
        "--timeout",
        "0.5",
        timeout=60,
        preexec_fn=_limit_memory,
    )
    assert result.returncode == 3, result.stderr
    assert result.stderr == (
        "Error: query stopped after its timeout of 0.5 s (give --timeout SECONDS, 0 for none)\n"
    )
    assert result.stdout == ""


def test_the_timeout_is_an_option_with_a_default(sessions):
    result = run("session", "query", "--help")
    assert "--timeout SECONDS" in result.stdout and "30" in result.stdout
    assert run("session", "query", "SELECT 1", "--timeout", "-1").exit_code == 2
    assert run("session", "query", "SELECT 42 AS x", "--timeout", "0", "-f", "json").stdout == (
        '[\n  {"x": 42}\n]\n'
    )


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_ctrl_c_stops_a_running_query(sessions):
    run("session", "list")  # the index exists: the query starts at once
    process = _mofa(
        "session",
        "query",
        f"{FOREVER} SELECT count(*) FROM c",
        "--timeout",
        "0",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while _cpu_seconds(process.pid) < 1.0 and time.monotonic() < deadline:
            time.sleep(0.05)  # well into the query: its start-up takes a fraction of this
        assert process.poll() is None
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=10)
        stderr = process.stderr.read().decode()
    finally:
        _stop(process)
    assert code == 130, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr and "Aborted" not in stderr


def test_the_table_holds_at_most_10000_rows(sessions):
    result = run_installed(
        "session", "query", f"{FOREVER} SELECT x FROM c", timeout=120, preexec_fn=_limit_memory
    )
    assert result.returncode == 0, result.stderr[-500:]
    lines = result.stdout.splitlines()
    assert lines[3] == "│ 1     │" and lines[-2] == "│ 10000 │" and len(lines) == 10_004
    assert result.stderr == (
        "warning: the table shows the first 10,000 rows only;"
        " use -f csv or -f json for all of them\n"
    )


def test_a_table_under_the_limit_is_whole_and_quiet(sessions):
    result = run("session", "query", f"{FOREVER} SELECT x FROM c LIMIT 10000")
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 10_004 and result.stderr == ""


@pytest.mark.parametrize(
    "fmt, start", [("json", b'[\n  {"x": 1},\n  {"x": 2}'), ("csv", b"x\n1\n2\n3\n")]
)
def test_json_and_csv_stream_and_end_quietly_when_the_reader_goes(sessions, fmt, start):
    process = _mofa(
        "session",
        "query",
        f"{FOREVER} SELECT x FROM c",
        "-f",
        fmt,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        head = process.stdout.read(1000)  # as `| head -c 1000`
        process.stdout.close()
        code = process.wait(timeout=30)
        stderr = process.stderr.read().decode()
    finally:
        _stop(process)
    assert head.startswith(start) and len(head) == 1000
    assert (code, stderr) == (0, "")


def test_json_is_strict_for_numbers_sqlite_cannot_hold(sessions):
    result = run_installed(
        "session",
        "query",
        "SELECT 1e999 AS big, -1e999 AS small, 0.5 AS half, 9223372036854775807 AS max_int",
        "-f",
        "json",
    )
    assert result.returncode == 0, result.stderr

    def refuse(constant):
        raise AssertionError(f"not strict JSON: {constant}")

    assert json.loads(result.stdout, parse_constant=refuse) == [
        {"big": None, "small": None, "half": 0.5, "max_int": 9223372036854775807}
    ]
