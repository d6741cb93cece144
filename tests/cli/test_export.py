import json
import os
import resource
import signal

import pytest
from ruamel.yaml import YAML

from tests.helpers import message, run, run_installed, write_jsonl, write_session


@pytest.fixture
def stored(root):
    path = write_session(
        root,
        "agent-001",
        "session-123",
        [
            message("user", "Hello", "2024-02-28T10:30:05Z", tokens=3),
            message(
                "assistant", {"tool": "search", "args": {"q": "x"}}, "2024-02-28T10:30:08+01:00"
            ),
        ],
        metadata={
            "agent_id": "agent-001",
            "user_id": "user-456",
            "tags": ["a", "b"],
            "custom_field": 1.5,
        },
        updated_at="2024-02-28T12:45:00Z",
        unknown_field={"kept": [None, True]},
    )
    return json.loads(path.read_text())


def test_export_json_is_lossless(root, stored, tmp_path):
    out = tmp_path / "session.json"
    result = run("session", "export", "agent-001:session-123", "-o", str(out), "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == (
        "→ Exporting session: agent-001:session-123\n"
        "  Format: json\n"
        f"  Output: {out}\n"
        "  ✓ Exported 2 messages\n"
        "✓ Session exported successfully\n"
    )
    exported = json.loads(out.read_text())
    assert exported == {"session_id": "agent-001:session-123", **stored}
    assert list(exported)[0] == "session_id"


def test_export_yaml_is_lossless(root, stored, tmp_path):
    out = tmp_path / "session.yaml"
    assert run("session", "export", "session-123", "-o", str(out), "-f", "yaml").exit_code == 0
    exported = YAML(typ="safe").load(out.read_text())
    assert exported == {"session_id": "agent-001:session-123", **stored}
    assert out.read_text().startswith("session_id: agent-001:session-123\n")


@pytest.mark.parametrize(
    "name, fmt", [("s.json", "json"), ("s.yaml", "yaml"), ("s.yml", "yaml"), ("S.JSON", "json")]
)
def test_format_from_suffix(root, stored, tmp_path, name, fmt):
    out = tmp_path / name
    result = run("session", "export", "session-123", "-o", str(out))
    assert f"  Format: {fmt}\n" in result.stderr
    loaded = (
        json.loads(out.read_text()) if fmt == "json" else YAML(typ="safe").load(out.read_text())
    )
    assert loaded["messages"] == stored["messages"]


def test_unknown_suffix_without_format_is_a_usage_error(root, stored, tmp_path):
    result = run("session", "export", "session-123", "-o", str(tmp_path / "s.txt"))
    assert result.exit_code == 2
    assert "cannot tell the format from" in result.stderr
    assert not (tmp_path / "s.txt").exists()


def test_output_is_required(root, stored):
    result = run("session", "export", "session-123")
    assert result.exit_code == 2
    assert "Missing option '-o' / '--output'" in result.stderr


def test_parent_directories_are_created_and_files_replaced(root, stored, tmp_path):
    out = tmp_path / "exports" / "deep" / "agent-001:session-123.json"
    assert run("session", "export", "session-123", "-o", str(out)).exit_code == 0
    out.write_text("old content")
    assert run("session", "export", "session-123", "-o", str(out)).exit_code == 0
    assert json.loads(out.read_text())["session_id"] == "agent-001:session-123"
    assert sorted(os.listdir(out.parent)) == ["agent-001:session-123.json"]


def test_a_directory_as_output_is_a_usage_error(root, stored, tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    result = run("session", "export", "session-123", "-o", str(target), "-f", "json")
    assert result.exit_code == 2
    assert "is a directory" in result.stderr
    assert os.listdir(target) == []


def test_failed_export_leaves_no_partial_file_and_keeps_the_old_one(root, tmp_path):
    """The write runs out of room half-way (a file size limit): the old export stays whole."""
    write_session(root, "a", "big", [message("user", "x" * 5000)])
    out = tmp_path / "export.json"
    out.write_text("previous export")

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))

    result = run_installed("session", "export", "a:big", "-o", str(out), preexec_fn=limit_file_size)
    assert result.returncode == 3, result.stderr
    assert result.stderr.splitlines()[-1].startswith(f"Error: cannot write {out}")
    assert "Traceback" not in result.stderr
    assert out.read_text() == "previous export"
    assert [name for name in os.listdir(tmp_path) if name.startswith(".mofa-export")] == []


def test_export_to_stdout(root, stored):
    result = run("session", "export", "session-123", "-o", "-", "-f", "json")
    assert json.loads(result.stdout)["unknown_field"] == {"kept": [None, True]}


def test_export_of_a_missing_session(root, tmp_path):
    result = run("session", "export", "nope", "-o", str(tmp_path / "x.json"))
    assert (result.exit_code, result.stderr) == (1, "Error: session not found: nope\n")
    assert not (tmp_path / "x.json").exists()


def test_export_jsonl_keeps_header_and_every_message(root, tmp_path):
    messages = [
        message("user", "a", "2024-02-28T10:30:05.123+00:00"),
        message("assistant", "b", "2024-02-28T10:30:06+00:00", extra="kept"),
    ]
    write_jsonl(root, "agent-7:c1", messages, metadata={"agent_id": "agent-7", "k": [1]})
    out = tmp_path / "c1.json"
    assert run("session", "export", "agent-7:c1", "-o", str(out)).exit_code == 0
    exported = json.loads(out.read_text())
    assert exported == {
        "session_id": "agent-7:c1",
        "key": "agent-7:c1",
        "created_at": "2024-02-28T10:30:00.123+00:00",
        "updated_at": "2024-02-28T10:30:00.123+00:00",
        "metadata": {"agent_id": "agent-7", "k": [1]},
        "messages": messages,
    }
