"""A command ends without the interpreter's teardown (~6 ms of a listing), its
output whole and its exit status kept; the teardown still runs where it has work to do or
where warnings were asked for. Real subprocesses."""

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import write_session

# The mofa console script's entry point, with an exit hook that says whether the teardown ran.
PROGRAM = """
import atexit, sys
atexit.register(lambda: sys.stderr.write("teardown ran\\n"))
sys.argv = ["mofa", *sys.argv[1:]]
from mofa.cli import main
main()
"""


def run_mofa(*args, env=None, python_args=()):
    return subprocess.run(
        [sys.executable, *python_args, "-c", PROGRAM, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_a_listing_ends_without_teardown_its_output_whole(root):
    for number in range(300):
        write_session(root, "a", f"s{number:03d}")
    result = run_mofa("session", "list", "--output-format", "json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 300  # everything buffered was written
    assert "teardown ran" not in result.stderr


def test_a_failure_keeps_its_status_and_message(root):
    result = run_mofa("session", "show", "a:missing")
    assert result.returncode == 1
    assert "session not found: a:missing" in result.stderr
    assert "teardown ran" not in result.stderr


@pytest.mark.parametrize(
    "how", [{"env": {"PYTHONWARNINGS": "error"}}, {"python_args": ["-X", "dev"]}]
)
def test_asking_for_warnings_keeps_the_teardown(root, how):
    write_session(root, "a", "s")
    assert "teardown ran" not in run_mofa("session", "list", "--output-format", "json").stderr
    result = run_mofa("session", "list", "--output-format", "json", **how)
    assert result.returncode == 0, result.stderr
    assert "teardown ran" in result.stderr  # where unclosed files and the like are reported
