"""`export -o -`: the export alone, json unless another format is asked for."""

from __future__ import annotations

import json

from tests.helpers import run_installed, write_jsonl, write_session


def test_export_to_stdout_defaults_to_json_and_writes_nothing_else(root):
    write_session(root, "agent-001", "session-123")
    result = run_installed("session", "export", "agent-001:session-123", "-o", "-")
    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads(result.stdout)["session_id"] == "agent-001:session-123"


def test_export_to_stdout_of_a_mofa_session_whose_id_is_not_ascii(root):
    write_jsonl(root, "café:naïve")
    result = run_installed("session", "export", "café:naïve", "-o", "-")
    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads(result.stdout)["key"] == "café:naïve"


def test_export_to_stdout_in_another_format_when_asked(root):
    write_session(root, "agent-001", "session-123")
    result = run_installed("session", "export", "session-123", "-o", "-", "-f", "yaml")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("session_id: agent-001:session-123\n")


def test_export_of_a_listed_mofa_key_that_is_also_a_short_id_of_another_session(root):
    write_jsonl(root, "c")
    write_session(root, "bot", "c")
    result = run_installed("session", "export", "c", "-o", "-")
    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads(result.stdout)["key"] == "c"
