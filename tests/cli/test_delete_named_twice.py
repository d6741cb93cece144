"""`delete` given one session twice, by its full and its short id, deletes it once, no error."""

from __future__ import annotations

import pytest

from tests.helpers import listed_ids, run, run_installed, write_jsonl, write_session


@pytest.mark.parametrize("from_stdin", [False, True])
def test_a_per_agent_session_named_by_full_and_short_id_is_deleted_once(root, from_stdin):
    write_session(root, "bot", "x.y")
    write_session(root, "bot", "kept")
    ids = ["bot:x.y", "x.y"]
    if from_stdin:
        result = run_installed("session", "delete", "-", "--force", input="\n".join(ids) + "\n")
    else:
        result = run_installed("session", "delete", *ids, "--force")
    assert result.returncode == 0, result.stderr
    assert "Error" not in result.stderr and "✓ Deleted 1 session" in result.stderr
    assert listed_ids(run("session", "list", "-f", "json")) == ["bot:kept"]


def test_a_mofa_session_named_by_short_and_full_id_is_deleted_once(root):
    write_jsonl(root, "telegram:chat-1")
    result = run_installed("session", "delete", "chat-1", "telegram:chat-1", "--force")
    assert result.returncode == 0, result.stderr
    assert "Error" not in result.stderr
    assert listed_ids(run("session", "list", "-f", "json")) == []
    assert list(root.iterdir()) == []
