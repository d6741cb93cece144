"""What the world can do to the standard streams: closed, full, cut short, or not UTF-8.

Each runs the installed `mofa` as a real subprocess. None may end in a traceback or an
"internal error".
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time

import pytest

from tests.helpers import BIN, message, run_installed, run_then_close_stdout, write_session

MOFA = str(BIN / "mofa")
TEXT = "日本語 ✓ café \u00e9"


@pytest.fixture
def unicode_session(root):
    write_session(
        root,
        "agent",
        "s1",
        [message("user", TEXT), message("assistant", "ok")],
        metadata={"agent_id": "agent", "note": TEXT},
    )
    return root


def _clean(stderr: str) -> None:
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr


COMMANDS = [
    ["session", "list"],
    ["session", "list", "-f", "json"],
    ["session", "show", "agent:s1"],
    ["session", "show", "agent:s1", "-f", "yaml"],
    ["session", "export", "agent:s1", "-o", "-", "-f", "json"],
    ["session", "query", "SELECT session_id FROM sessions", "-f", "csv"],
    ["session", "index", "status"],
    ["--version"],
    ["session", "list", "--help"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_full_disk_on_stdout_is_one_error_line(unicode_session, command):
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [MOFA, *command], stdout=full, stderr=subprocess.PIPE, text=True, timeout=60
        )
    _clean(result.stderr)
    assert result.returncode == 3, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == ["Error: standard output: No space left on device"], result.stderr


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_closed_stdout_is_one_error_line(unicode_session, command):
    result = subprocess.run(
        [MOFA, *command],
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        pass_fds=(),
        preexec_fn=lambda: os.close(1),
    )
    _clean(result.stderr)
    assert result.returncode == 3, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == ["Error: standard output: Bad file descriptor"], result.stderr


def test_a_closed_stdout_never_writes_into_a_file_the_command_opened(unicode_session, index_path):
    """With fd 1 closed, the index would be opened as fd 1: output must not land in it."""
    subprocess.run(
        [MOFA, "session", "list", "-f", "json"],
        stderr=subprocess.DEVNULL,
        timeout=60,
        preexec_fn=lambda: os.close(1),
    )
    result = run_installed("session", "list", "-f", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["session_id"] == "agent:s1"


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_head_on_a_big_listing_ends_quietly(root, fmt):
    for number in range(1500):
        write_session(root, f"agent-{number % 3}", f"session-{number:05d}")
    first, code, stderr = run_then_close_stdout("session", "list", "-f", fmt)
    assert first.startswith("┌" if fmt == "table" else "[")
    assert code == 0, stderr
    assert "Error" not in stderr and "Broken pipe" not in stderr
    _clean(stderr)


def test_an_enormous_limit_means_all(root):
    write_session(root, "a", "s1")
    write_session(root, "a", "s2")
    result = run_installed("session", "list", "-n", "99999999999999999999", "-f", "json")
    assert result.returncode == 0, result.stderr
    assert [row["session_id"] for row in json.loads(result.stdout)] == ["a:s1", "a:s2"]


def test_a_closed_stdin_at_the_delete_prompt_cancels(unicode_session):
    victim = unicode_session / "agent" / "s1.json"
    result = subprocess.run(
        [MOFA, "session", "delete", "agent:s1"],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: os.close(0),
    )
    _clean(result.stderr)
    assert result.returncode == 0, result.stderr
    assert "Cancelled: nothing was deleted." in result.stderr
    assert victim.exists()


def test_ctrl_c_at_the_delete_prompt_is_130(unicode_session):
    victim = unicode_session / "agent" / "s1.json"
    process = subprocess.Popen(
        [MOFA, "session", "delete", "agent:s1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    seen = bytearray()
    prompted = threading.Event()

    def read_stderr():
        for chunk in iter(lambda: os.read(process.stderr.fileno(), 4096), b""):
            seen.extend(chunk)
            if b"Delete session? [y/N]: " in seen:
                prompted.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        assert prompted.wait(timeout=60), bytes(seen)
        time.sleep(0.1)  # into readline; a signal a moment earlier is handled the same way
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
        reader.join(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdin, process.stdout, process.stderr):
            stream.close()
    stderr = seen.decode()
    assert code == 130, stderr
    assert "Aborted" not in stderr
    _clean(stderr)
    assert victim.exists()


ENVIRONMENTS = [
    {"PYTHONIOENCODING": "latin-1"},
    {"PYTHONIOENCODING": "ascii"},
    {"LC_ALL": "C", "LANG": "C", "PYTHONIOENCODING": ""},
    {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0", "PYTHONIOENCODING": ""},
]


@pytest.mark.parametrize(
    "env", ENVIRONMENTS, ids=lambda env: ",".join(f"{k}={v}" for k, v in env.items())
)
def test_json_and_yaml_are_whole_utf8_whatever_the_locale(unicode_session, env):
    for command in (
        ["session", "show", "agent:s1", "-f", "json"],
        ["session", "export", "agent:s1", "-o", "-", "-f", "json"],
        [
            "session",
            "query",
            "SELECT session_id, json_object('n', 'é✓') AS x FROM sessions",
            "-f",
            "json",
        ],
    ):
        result = subprocess.run(
            [MOFA, *command], capture_output=True, timeout=60, env=dict(os.environ, **env)
        )
        _clean(result.stderr.decode("utf-8", "replace"))
        assert result.returncode == 0, result.stderr
        document = json.loads(result.stdout.decode("utf-8"))
        if command[1] != "query":
            assert document["messages"][0]["content"] == TEXT
        else:
            assert "é✓" in document[0]["x"]
    result = subprocess.run(
        [MOFA, "session", "show", "agent:s1", "-f", "yaml"],
        capture_output=True,
        timeout=60,
        env=dict(os.environ, **env),
    )
    assert result.returncode == 0, result.stderr
    assert f"content: {TEXT}\n" in result.stdout.decode("utf-8")


@pytest.mark.parametrize(
    "env", ENVIRONMENTS, ids=lambda env: ",".join(f"{k}={v}" for k, v in env.items())
)
def test_tables_and_warnings_degrade_on_a_terminal_that_is_not_utf8(unicode_session, env):
    bad = unicode_session / "agent" / "brisé-✓.json"
    bad.write_text("{not json")
    for command in (
        ["session", "list"],
        ["session", "show", "agent:s1"],
        ["session", "query", "SELECT session_id, 'é✓' AS x FROM sessions"],
    ):
        result = subprocess.run(
            [MOFA, *command], capture_output=True, timeout=60, env=dict(os.environ, **env)
        )
        stderr = result.stderr.decode("utf-8", "replace")
        _clean(stderr)
        assert result.returncode == 0, stderr
        assert b"agent:s1" in result.stdout
    assert "bris" in stderr
