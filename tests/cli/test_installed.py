"""The installed console scripts, run as users run them."""

import json
import subprocess
import sys

from tests.helpers import BIN, message, run_installed, write_session


def test_mofa_lists_as_a_subprocess(root):
    write_session(root, "agent-001", "session-123", [message("user", "x")] * 3)
    result = run_installed("session", "list", "-f", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {
            "session_id": "agent-001:session-123",
            "created_at": "2024-02-28 10:30:00",
            "message_count": 3,
            "status": "active",
        }
    ]
    assert result.stderr == ""


def test_python_dash_m_mofa(root):
    write_session(root, "a", "s")
    result = subprocess.run(
        [sys.executable, "-m", "mofa", "session", "show", "a:s", "-f", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["session_id"] == "a:s"


def test_sessions_dir_option_beats_the_environment(root, tmp_path):
    other = tmp_path / "other"
    write_session(other, "b", "s")
    write_session(root, "a", "s")
    result = run_installed("--sessions-dir", str(other), "session", "list", "-f", "json")
    assert [r["session_id"] for r in json.loads(result.stdout)] == ["b:s"]


def test_xdg_data_home_then_home(tmp_path):
    env = {"MOFA_SESSIONS_DIR": "", "XDG_DATA_HOME": str(tmp_path / "data")}
    write_session(tmp_path / "data" / "mofa" / "sessions", "x", "s")
    result = run_installed("session", "list", "-f", "json", env=env)
    assert [r["session_id"] for r in json.loads(result.stdout)] == ["x:s"]
    write_session(tmp_path / "home" / ".local" / "share" / "mofa" / "sessions", "h", "s")
    result = run_installed(
        "session", "list", "-f", "json", env={"MOFA_SESSIONS_DIR": "", "XDG_DATA_HOME": ""}
    )
    assert [r["session_id"] for r in json.loads(result.stdout)] == ["h:s"]


def test_expected_failures_never_show_a_traceback(root, tmp_path):
    (root / "a").mkdir()
    (root / "a" / "bad.json").write_bytes(b"\xff\xfe garbage")
    for args, status in [
        (["session", "show", "a:bad"], 3),
        (["session", "show", "../../etc/passwd"], 1),
        (["session", "show", "nope"], 1),
        (["session", "export", "nope", "-o", "x.txt"], 2),
        (["session", "query", "DROP TABLE sessions"], 1),
        (["session", "list", "--limit", "x"], 2),
    ]:
        result = run_installed(*args, cwd=tmp_path)
        assert result.returncode == status, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith("Error:"), result.stderr


def test_broken_pipe_is_quiet(root):
    for number in range(300):
        write_session(root, "a", f"s{number:03d}")
    result = subprocess.run(
        f"'{BIN}/mofa' session list -f json | head -c 10",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in result.stderr
