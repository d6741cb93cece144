import json

import pytest
from ruamel.yaml import YAML

from tests.helpers import message, run, write_jsonl, write_session

PAGE_MESSAGES = [
    message("user", "Hello, I need help with my order", "2024-02-28T10:30:05Z"),
    message("assistant", "I'd be happy to help! What's your order number?", "2024-02-28T10:30:08Z"),
    message("user", "ORD-12345", "2024-02-28T10:30:15Z"),
    message(
        "assistant",
        "I found your order. It's currently being processed. Expected delivery is "
        "Friday, and a tracking number follows by email.",
        "2024-02-28T10:30:18Z",
    ),
]
PAGE_METADATA = {"agent_id": "agent-001", "user_id": "user-456", "context": "customer_support"}


@pytest.fixture
def page_session(root):
    return write_session(root, "agent-001", "session-123", PAGE_MESSAGES, metadata=PAGE_METADATA)


def test_table_form(page_session):
    result = run("session", "show", "agent-001:session-123", env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Session: agent-001:session-123",
        "Created: 2024-02-28 10:30:00",
        "Messages: 4",
        "Status: active",
        "",
        "Metadata:",
        "  agent_id: agent-001",
        "  user_id: user-456",
        "  context: customer_support",
        "",
        "Conversation:",
        "",
        "┌───────────┬───────────┬──────────────────────────────────────────────────────┐",
        "│ Timestamp │ Role      │ Content                                              │",
        "├───────────┼───────────┼──────────────────────────────────────────────────────┤",
        "│ 10:30:05  │ user      │ Hello, I need help with my order                     │",
        "│ 10:30:08  │ assistant │ I'd be happy to help! What's your order number?      │",
        "│ 10:30:15  │ user      │ ORD-12345                                            │",
        "│ 10:30:18  │ assistant │ I found your order. It's currently being processe... │",
        "└───────────┴───────────┴──────────────────────────────────────────────────────┘",
    ]


@pytest.mark.parametrize("columns", [40, 60, 100, 200])
def test_content_is_cut_to_the_terminal_width(page_session, columns):
    result = run("session", "show", "session-123", env={"COLUMNS": str(columns)})
    table = [line for line in result.stdout.splitlines() if line.startswith(("│", "┌"))]
    assert all(len(line) <= columns for line in table)
    full = "I found your order. It's currently being processed. Expected delivery is Friday"
    assert (full in result.stdout) == (columns >= 130)


def test_json_form(page_session):
    result = run("session", "show", "agent-001:session-123", "--format", "json")
    document = json.loads(result.stdout)
    assert list(document) == [
        "session_id",
        "created_at",
        "message_count",
        "status",
        "metadata",
        "messages",
    ]
    assert document["session_id"] == "agent-001:session-123"
    assert document["created_at"] == "2024-02-28T10:30:00Z"
    assert document["message_count"] == 4
    assert document["metadata"] == PAGE_METADATA
    assert document["messages"][0] == {
        "timestamp": "2024-02-28T10:30:05Z",
        "role": "user",
        "content": "Hello, I need help with my order",
    }
    assert document["messages"][3]["content"] == PAGE_MESSAGES[3]["content"]  # never cut
    assert result.stderr == ""


def test_yaml_form(page_session):
    result = run("session", "show", "session-123", "-o", "yaml")
    assert result.stdout.startswith(
        "session_id: agent-001:session-123\n"
        "created_at: 2024-02-28T10:30:00Z\n"
        "message_count: 4\n"
        "status: active\n"
        "metadata:\n"
        "  agent_id: agent-001\n"
        "  user_id: user-456\n"
        "  context: customer_support\n"
        "messages:\n"
        "  - timestamp: 2024-02-28T10:30:05Z\n"
        "    role: user\n"
        "    content: Hello, I need help with my order\n"
    )
    parsed = YAML(typ="safe").load(result.stdout)
    assert parsed["messages"][1]["content"] == PAGE_MESSAGES[1]["content"]


@pytest.mark.parametrize("flag", ["-f", "--format", "-o", "--output-format"])
def test_format_aliases(page_session, flag):
    assert (
        json.loads(run("session", "show", "session-123", flag, "json").stdout)["message_count"] == 4
    )


def test_times_are_shown_in_utc(root):
    write_session(
        root,
        "a",
        "s",
        [message("user", "hi", "2024-02-28T12:30:05.250+02:00")],
        created_at="2024-02-28T12:30:00+02:00",
    )
    assert "Created: 2024-02-28 10:30:00" in run("session", "show", "a:s").stdout
    assert "│ 10:30:05  │" in run("session", "show", "a:s").stdout
    document = json.loads(run("session", "show", "a:s", "-f", "json").stdout)
    assert document["messages"][0]["timestamp"] == "2024-02-28T10:30:05.250Z"  # the stored fraction


def test_content_that_is_not_a_string(root):
    contents = [{"result": [1, 2]}, ["a", "b"], 42, None, True, "multi\nline"]
    write_session(root, "a", "tools", [message("tool", c) for c in contents])
    table = run("session", "show", "a:tools", env={"COLUMNS": "200"})
    assert table.exit_code == 0
    for shown in ('{"result":[1,2]}', '["a","b"]', "│ 42 ", "│ null ", "│ true ", "multi\\nline"):
        assert shown in table.stdout
    document = json.loads(run("session", "show", "a:tools", "-f", "json").stdout)
    assert [m["content"] for m in document["messages"]] == contents
    assert YAML(typ="safe").load(run("session", "show", "a:tools", "-f", "yaml").stdout)[
        "messages"
    ][0]["content"] == {"result": [1, 2]}


def test_session_without_messages_or_metadata(root):
    write_session(root, "a", "empty", [], metadata={})
    result = run("session", "show", "a:empty")
    assert "Status: empty" in result.stdout
    assert "(no messages)" in result.stdout
    assert "Metadata:" not in result.stdout


def test_short_id_and_ambiguity(root):
    write_session(root, "a", "only-here")
    write_session(root, "a", "twice")
    write_session(root, "b", "twice")
    assert run("session", "show", "only-here").exit_code == 0
    result = run("session", "show", "twice")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: session id 'twice' is ambiguous; use one of: a:twice, b:twice\n"
    )
    assert run("session", "show", "b:twice", "-f", "json").exit_code == 0


def test_not_found_and_invalid(root):
    write_session(root, "a", "s")
    for wrong, text in [
        ("a:nope", "Error: session not found: a:nope\n"),
        ("nope", "Error: session not found: nope\n"),
        ("zz:s", "Error: session not found: zz:s\n"),
        ("a:../s", "Error: invalid session id 'a:../s': the session part starts with '.'\n"),
    ]:
        result = run("session", "show", wrong)
        assert (result.exit_code, result.stdout, result.stderr) == (1, "", text)


def test_jsonl_session_shows(root):
    write_jsonl(root, "agent-9:chat-1", [message("user", "héllo", "2024-02-28T10:30:05.123+00:00")])
    result = run("session", "show", "chat-1", "-f", "json")
    document = json.loads(result.stdout)
    assert document["session_id"] == "agent-9:chat-1"
    assert document["messages"][0]["timestamp"] == "2024-02-28T10:30:05.123Z"
    assert document["messages"][0]["content"] == "héllo"
