"""The test server itself (tests/pg.py): it leaves nothing behind, and in CI a missing server
fails the database tests instead of skipping them."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.helpers import REPO

PROBE = """
def test_probe(pg_url, postgres_server):
    import psycopg
    print("CLUSTER", pg_url.split("host=")[1].split("&")[0])
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert VERDICT
"""


def run_probe(tmp_path, fail: bool = False, **env) -> subprocess.CompletedProcess:
    """A pytest run of its own, with the repository's fixtures, on one database test."""
    test = tmp_path / "test_probe.py"
    test.write_text(PROBE.replace("VERDICT", "False" if fail else "True"))
    full_env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("CI", "MOFA_TEST_POSTGRES_URL", "PYTEST_ADDOPTS")
    }
    full_env.update(env)
    full_env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-s",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(REPO),
            "-c",
            str(REPO / "setup.cfg"),
            "--confcutdir",
            str(REPO / "tests"),
            "-p",
            "tests.conftest",
            str(test),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=full_env,
    )


def processes_mentioning(text: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in command:
            found.append(f"{pid}: {command}")
    return found


@pytest.mark.parametrize("fail", [False, True], ids=["passing", "failing"])
def test_the_cluster_is_stopped_and_removed_after_the_session(tmp_path, fail, postgres_server):
    if not postgres_server.own:
        pytest.skip("a server given by MOFA_TEST_POSTGRES_URL is not ours to start")
    result = run_probe(tmp_path, fail=fail)
    assert result.returncode == (1 if fail else 0), result.stdout + result.stderr
    cluster = re.search(r"CLUSTER (\S+)", result.stdout).group(1)
    assert cluster.startswith("/") and "mofa-pg-" in cluster
    assert not os.path.exists(cluster)
    assert processes_mentioning(cluster) == []


@pytest.mark.parametrize("ci, outcome", [("true", "1 error"), ("", "1 skipped")])
def test_without_a_server_ci_fails_and_a_workstation_skips(tmp_path, ci, outcome):
    result = run_probe(tmp_path, MOFA_TEST_PG_BINDIR=str(tmp_path / "no-postgres-here"), CI=ci)
    assert outcome in result.stdout, result.stdout + result.stderr
    assert "no initdb/pg_ctl found" in result.stdout
