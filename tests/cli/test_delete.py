import sqlite3

import pytest

from tests.helpers import listed_ids, message, run, write_jsonl, write_session


@pytest.fixture
def victim(root):
    write_session(root, "agent-001", "session-123", [message("user", "x")] * 12)
    write_session(root, "agent-001", "keep")
    run("session", "list")  # index them
    return root / "agent-001" / "session-123.json"


def test_interactive_yes(victim):
    result = run("session", "delete", "agent-001:session-123", input="y\n")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == (
        "→ Deleting session: agent-001:session-123\n"
        "\nSession contains 12 messages.\n"
        "This action cannot be undone.\n\n"
        "Delete session? [y/N]: \n"
        "  Removing session data...\n"
        "✓ Session deleted successfully\n"
    )
    assert not victim.exists()


@pytest.mark.parametrize("answer", ["yes\n", "Y\n", " YES \n"])
def test_yes_spellings(victim, answer):
    assert run("session", "delete", "session-123", input=answer).exit_code == 0
    assert not victim.exists()


@pytest.mark.parametrize("answer", ["n\n", "\n", "no\n", "yep\n", "maybe\n", ""])
def test_anything_else_or_end_of_input_cancels(victim, answer):
    result = run("session", "delete", "session-123", input=answer)
    assert result.exit_code == 0
    assert "Cancelled: nothing was deleted." in result.stderr
    assert victim.exists()
    assert "agent-001:session-123" in listed_ids(run("session", "list", "-f", "json"))


def test_force(victim):
    result = run("session", "delete", "session-123", "--force")
    assert result.exit_code == 0
    assert result.stderr == (
        "→ Deleting session: agent-001:session-123\n"
        "  Removing session data...\n"
        "✓ Session deleted successfully\n"
    )
    assert not victim.exists()


def test_the_index_row_goes_with_the_file(victim, index_path):
    run("session", "delete", "session-123", "--force")
    conn = sqlite3.connect(index_path)
    assert conn.execute("SELECT session_id FROM sessions").fetchall() == [("agent-001:keep",)]
    conn.close()
    assert listed_ids(run("session", "list", "-f", "json")) == ["agent-001:keep"]


def test_not_found_is_status_1(victim):
    result = run("session", "delete", "agent-001:nope", "--force")
    assert (result.exit_code, result.stderr) == (1, "Error: session not found: agent-001:nope\n")


def test_ambiguous_short_id_deletes_nothing(root):
    write_session(root, "a", "s")
    write_session(root, "b", "s")
    result = run("session", "delete", "s", "--force")
    assert result.exit_code == 1
    assert "ambiguous; use one of: a:s, b:s" in result.stderr
    assert (root / "a" / "s.json").exists() and (root / "b" / "s.json").exists()


def test_delete_a_jsonl_session(root):
    path = write_jsonl(root, "agent-7:chat", file_stem="chat-file")
    assert run("session", "delete", "agent-7:chat", "--force").exit_code == 0
    assert not path.exists()
    assert listed_ids(run("session", "list", "-f", "json")) == []


def test_delete_of_an_unreadable_session_works(root):
    (root / "a").mkdir()
    (root / "a" / "broken.json").write_text('{"messages": [')
    result = run("session", "delete", "a:broken", input="y\n")
    assert result.exit_code == 0
    assert "The session file cannot be read (invalid JSON" in result.stderr
    assert not (root / "a" / "broken.json").exists()
