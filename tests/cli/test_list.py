import json
import os

import pytest

from tests.helpers import listed_ids, message, run, write_jsonl, write_session

PAGE_HEADER = "│ session_id              │ created_at          │ message_count │ status │"


@pytest.fixture
def page_sessions(root):
    """The sessions of the reference page's examples."""
    write_session(
        root, "agent-001", "session-123", [message("user", "x")] * 12, "2024-02-28T10:30:00Z"
    )
    write_session(
        root, "agent-001", "session-124", [message("user", "x")] * 8, "2024-02-28T11:45:00Z"
    )
    write_session(
        root, "agent-002", "session-125", [message("user", "x")] * 5, "2024-02-28T12:15:00Z"
    )
    write_session(
        root, "agent-002", "session-126", [message("user", "x")] * 3, "2024-02-28T13:00:00Z"
    )
    write_session(
        root, "agent-003", "session-127", [message("user", "x")] * 15, "2024-02-28T14:20:00Z"
    )
    return root


def test_list_table_as_the_page_shows(page_sessions):
    result = run("session", "list")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "┌───────────────────────┬─────────────────────┬───────────────┬────────┐",
        "│ session_id            │ created_at          │ message_count │ status │",
        "├───────────────────────┼─────────────────────┼───────────────┼────────┤",
        "│ agent-001:session-123 │ 2024-02-28 10:30:00 │ 12            │ active │",
        "│ agent-001:session-124 │ 2024-02-28 11:45:00 │ 8             │ active │",
        "│ agent-002:session-125 │ 2024-02-28 12:15:00 │ 5             │ active │",
        "│ agent-002:session-126 │ 2024-02-28 13:00:00 │ 3             │ active │",
        "│ agent-003:session-127 │ 2024-02-28 14:20:00 │ 15            │ active │",
        "└───────────────────────┴─────────────────────┴───────────────┴────────┘",
    ]
    assert result.stderr == "→ Listing sessions\n\n"


def test_filter_by_agent_is_exact(page_sessions):
    write_session(page_sessions, "agent-0011", "other", created_at="2024-01-01T00:00:00Z")
    result = run("session", "list", "--agent", "agent-001")
    assert result.exit_code == 0
    assert "  Filtering by agent: agent-001" in result.stderr
    assert [line.split("│")[1].strip() for line in result.stdout.splitlines()[3:-1]] == [
        "agent-001:session-123",
        "agent-001:session-124",
    ]
    assert listed_ids(run("session", "list", "-a", "agent-00", "-f", "json")) == []


def test_limit_keeps_the_newest_printed_oldest_first(page_sessions):
    result = run("session", "list", "--limit", "2", "--output-format", "json")
    assert listed_ids(result) == ["agent-002:session-126", "agent-003:session-127"]
    assert listed_ids(run("session", "list", "-n", "2", "-a", "agent-001", "-f", "json")) == [
        "agent-001:session-123",
        "agent-001:session-124",
    ]
    table = run("session", "list", "-n", "5")
    assert "  Limit: 5" in table.stderr
    assert listed_ids(run("session", "list", "-n", "0", "-f", "json")) == []


def test_ties_are_broken_by_session_id(root):
    for name in ("c", "a", "b"):
        write_session(root, "agent", name, created_at="2024-02-28T10:30:00Z")
    assert listed_ids(run("session", "list", "-f", "json")) == ["agent:a", "agent:b", "agent:c"]
    assert listed_ids(run("session", "list", "-f", "json", "-n", "2")) == ["agent:b", "agent:c"]


def test_json_is_the_page_form(page_sessions):
    result = run("session", "list", "--output-format", "json", "--limit", "1")
    assert result.stdout == (
        '[\n  {\n    "session_id": "agent-003:session-127",\n'
        '    "created_at": "2024-02-28 14:20:00",\n    "message_count": 15,\n'
        '    "status": "active"\n  }\n]\n'
    )
    assert result.stderr == ""


def test_empty_store(root):
    table = run("session", "list")
    assert (table.exit_code, table.stdout) == (0, "No sessions found.\n")
    assert run("session", "list", "-f", "json").stdout == "[]\n"


def test_a_file_added_changed_in_place_or_removed_is_seen_at_once(root):
    path = write_session(root, "agent", "s1", [message("user", "a")])
    assert json.loads(run("session", "list", "-f", "json").stdout)[0]["message_count"] == 1
    # Same size, same directory, rewritten in place: only the file's own stat changes.
    mtime = os.stat(root / "agent").st_mtime_ns
    document = json.loads(path.read_text())
    document["messages"] = [message("user", "b"), message("user", "c")]
    with open(path, "r+") as handle:
        handle.write(json.dumps(document))
        handle.truncate()
    assert os.stat(root / "agent").st_mtime_ns == mtime
    assert json.loads(run("session", "list", "-f", "json").stdout)[0]["message_count"] == 2
    write_session(root, "agent", "s2")
    assert listed_ids(run("session", "list", "-f", "json")) == ["agent:s1", "agent:s2"]
    path.unlink()
    assert listed_ids(run("session", "list", "-f", "json")) == ["agent:s2"]
    (root / "agent" / "s2.json").unlink()
    (root / "agent").rmdir()
    assert listed_ids(run("session", "list", "-f", "json")) == []


def test_rewrites_within_one_clock_tick_are_not_missed(root):
    """Same size, same mtime tick: the racy-file rule makes the next command read it again."""
    path = write_session(root, "agent", "s", [message("user", "a")])
    for count in range(1, 8):
        document = json.loads(path.read_text())
        document["messages"] = [message("user", "a")] * count
        path.write_text(json.dumps(document))
        assert json.loads(run("session", "list", "-f", "json").stdout)[0]["message_count"] == count


def test_agent_filter_refreshes_only_that_agent(root, index_path):
    import sqlite3

    write_session(root, "a", "s1")
    write_session(root, "b", "s1")
    run("session", "list")
    write_session(root, "b", "s2")
    assert listed_ids(run("session", "list", "-a", "a", "-f", "json")) == ["a:s1"]
    conn = sqlite3.connect(index_path)
    assert conn.execute("SELECT count(*) FROM sessions WHERE agent = 'b'").fetchone()[0] == 1
    conn.close()
    assert listed_ids(run("session", "list", "-a", "b", "-f", "json")) == ["b:s1", "b:s2"]


def test_hidden_temporary_and_other_files_are_not_sessions(root):
    write_session(root, "agent", "real")
    (root / "agent" / ".real.json.tmp").write_text("{}")
    (root / "agent" / "notes.txt").write_text("x")
    (root / "agent" / "real.json~").write_text("{}")
    (root / "agent" / ".hidden.json").write_text("{}")
    (root / ".hidden-agent").mkdir()
    write_session(root, ".hidden-agent", "s")
    (root / "stray.json").write_text("{}")
    assert listed_ids(run("session", "list", "-f", "json")) == ["agent:real"]


def test_status_and_created_at_fallbacks(root):
    write_session(root, "a", "closed", status="closed")
    write_session(root, "a", "empty", messages=[])
    write_session(root, "a", "blank-status", status="")
    write_session(
        root,
        "a",
        "from-message",
        created_at=None,
        messages=[message("user", "x", "2024-03-01T09:00:00+01:00")],
    )
    path = write_session(
        root, "a", "from-mtime", created_at="not a time", messages=[message("user", "x", None)]
    )
    os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    rows = {r["session_id"]: r for r in json.loads(run("session", "list", "-f", "json").stdout)}
    assert rows["a:closed"]["status"] == "closed"
    assert rows["a:empty"]["status"] == "empty"
    assert rows["a:blank-status"]["status"] == "active"
    assert rows["a:from-message"]["created_at"] == "2024-03-01 08:00:00"
    assert rows["a:from-mtime"]["created_at"] == "2023-11-14 22:13:20"


def test_limit_must_be_a_number(root):
    result = run("session", "list", "--limit", "ten")
    assert result.exit_code == 2
    assert "Invalid value for '-n' / '--limit'" in result.stderr
    assert run("session", "list", "--limit", "-1").exit_code == 2
    assert run("session", "list", "-f", "xml").exit_code == 2


def test_both_layouts_list_together(root):
    write_session(root, "agent-003", "s", created_at="2024-02-28T10:00:00Z")
    write_jsonl(root, "agent-003:chat-1", created_at="2024-02-28T11:00:00.5+00:00")
    write_jsonl(
        root, "telegram:42", metadata={"agent_id": "agent-003"}, created_at="2024-02-28T12:00:00Z"
    )
    assert listed_ids(run("session", "list", "-a", "agent-003", "-f", "json")) == [
        "agent-003:s",
        "agent-003:chat-1",
        "telegram:42",
    ]
    assert listed_ids(run("session", "list", "-a", "telegram", "-f", "json")) == []
