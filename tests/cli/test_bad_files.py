"""Corrupt, odd and huge session files through every command, the index and the watcher."""

import json
import os

import pytest

from tests.daemon_helpers import RunningDaemon, index_rows, wait_until
from tests.helpers import listed_ids, message, run, run_installed, write_session

BAD_FILES = {
    "truncated": (
        b'{"created_at": "2024-02-28T10:30:00Z", "messages": [{"role": "us',
        "invalid JSON",
    ),
    "empty": (b"", "empty file"),
    "whitespace": (b"  \n\n", "empty file"),
    "array": (b"[1, 2, 3]", "not a JSON object (a JSON list)"),
    "string": (b'"just a string"', "not a JSON object (a JSON str)"),
    "null": (b"null", "not a JSON object (a JSON NoneType)"),
    "invalid-utf8": (b'{"messages": [], "x": "\xff\xfe\xfd"}', "not valid UTF-8"),
    "latin1": (
        '{"messages": [{"role": "user", "content": "café"}]}'.encode("latin-1"),
        "not valid UTF-8",
    ),
    "messages-object": (b'{"messages": {"role": "user"}}', "'messages' is not a list"),
    "messages-string": (b'{"messages": "hello"}', "'messages' is not a list"),
    "message-not-object": (b'{"messages": ["hello", 3]}', "message 1 is not a JSON object"),
    "metadata-list": (b'{"metadata": ["x"], "messages": []}', "'metadata' is not a JSON object"),
    "deep-nesting": (
        b'{"messages": [], "x": ' + b"[" * 100000 + b"]" * 100000 + b"}",
        "nested too deeply",
    ),
    "nul-bytes": (b"\x00" * 64, "invalid JSON"),
}


@pytest.fixture
def with_bad(root, request):
    data, reason = BAD_FILES[request.param]
    write_session(root, "agent", "good")
    (root / "agent" / "bad.json").write_bytes(data)
    return reason


@pytest.mark.parametrize("with_bad", list(BAD_FILES), indirect=True)
class TestEachBadFile:
    def test_list_keeps_the_good_and_warns_once_about_the_bad(self, root, with_bad):
        for args in (["-f", "json"], ["-a", "agent", "-f", "json"]):
            result = run("session", "list", *args)
            assert result.exit_code == 0
            assert listed_ids(result) == ["agent:good"]
            warnings = result.stderr.splitlines()
            assert len(warnings) == 1 and warnings[0].startswith("warning: ")
            assert str(root / "agent" / "bad.json") in warnings[0] and with_bad in warnings[0]

    def test_show_and_export_fail_with_status_3(self, root, with_bad, tmp_path):
        for command in (
            ["show", "agent:bad"],
            ["show", "bad", "-f", "json"],
            ["export", "agent:bad", "-o", str(tmp_path / "out.json")],
        ):
            result = run("session", *command)
            assert result.exit_code == 3, result.stdout
            assert result.stdout == ""
            assert result.stderr.splitlines()[-1].startswith("Error: ")
            assert with_bad in result.stderr
        assert not (tmp_path / "out.json").exists()

    def test_delete_works(self, root, with_bad):
        result = run("session", "delete", "agent:bad", "--force")
        assert result.exit_code == 0
        assert not (root / "agent" / "bad.json").exists()
        assert (root / "agent" / "good.json").exists()

    def test_index_records_it_and_verify_agrees(self, root, with_bad, index_path):
        run("session", "list")
        assert index_rows(index_path).keys() == {"agent:good"}
        assert run("session", "index", "verify").exit_code == 0
        status = json.loads(run("session", "index", "status", "-f", "json").stdout)
        assert status["unreadable_files"] == 1


def test_the_watcher_skips_every_bad_file_and_keeps_running(root, index_path):
    running = RunningDaemon(root, index_path)
    running.wait_for_log("watching")
    try:
        (root / "agent").mkdir()
        for name, (data, _reason) in BAD_FILES.items():
            (root / "agent" / f"{name}.json").write_bytes(data)
        write_session(root, "agent", "good")
        assert wait_until(lambda: "agent:good" in index_rows(index_path))
        for name in BAD_FILES:
            running.wait_for_log(f"{name}.json: ")
        assert running.process.poll() is None
        assert index_rows(index_path).keys() == {"agent:good"}
    finally:
        assert running.stop() == 0


def test_fields_of_the_wrong_type_that_can_be_read_around(root):
    """Odd types where DESIGN.md gives a fallback are not errors: the session still shows."""
    path = root / "agent" / "odd.json"
    path.parent.mkdir()
    path.write_text(
        json.dumps(
            {
                "created_at": 1709116200,
                "updated_at": ["x"],
                "status": 7,
                "session_id": {"x": 1},
                "messages": [
                    {"role": 5, "content": None, "timestamp": 12},
                    {"role": "user", "content": "ok", "timestamp": "2024-02-28T10:30:05Z"},
                ],
            }
        )
    )
    os.utime(path, (1_700_000_000, 1_700_000_000))
    rows = json.loads(run("session", "list", "-f", "json").stdout)
    assert rows[0]["session_id"] == "agent:odd" and rows[0]["status"] == "active"
    # created_at is a number and the first message's timestamp too: the file's mtime it is.
    assert rows[0]["created_at"] == "2023-11-14 22:13:20"
    shown = run("session", "show", "agent:odd")
    assert shown.exit_code == 0 and "│ 12 " in shown.stdout and "│ 5 " in shown.stdout
    assert (
        json.loads(run("session", "show", "odd", "-f", "json").stdout)["messages"][0]["timestamp"]
        == 12
    )


def test_a_session_of_20000_messages(root, tmp_path):
    messages = [
        message("user" if n % 2 else "assistant", f"message {n}", "2024-02-28T10:30:05Z")
        for n in range(20000)
    ]
    write_session(root, "big", "many", messages)
    assert json.loads(run("session", "list", "-f", "json").stdout)[0]["message_count"] == 20000
    assert run("session", "show", "many").stdout.count("\n│ ") == 20001
    assert len(json.loads(run("session", "show", "many", "-f", "json").stdout)["messages"]) == 20000
    out = tmp_path / "many.yaml"
    assert run("session", "export", "many", "-o", str(out)).exit_code == 0
    assert out.read_text().count("- role:") == 20000


def test_a_multi_megabyte_message(root, tmp_path):
    content = "lorem ipsum " * 400_000  # 4.8 MB
    write_session(root, "big", "huge", [message("user", content)])
    table = run_installed("session", "show", "huge", env={"COLUMNS": "100"})
    assert table.returncode == 0
    assert max(len(line) for line in table.stdout.splitlines()) <= 100
    out = tmp_path / "huge.json"
    assert run("session", "export", "huge", "-o", str(out)).exit_code == 0
    assert json.loads(out.read_text())["messages"][0]["content"] == content
