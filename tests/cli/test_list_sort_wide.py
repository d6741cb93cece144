"""`list --sort created|updated` (last activity) and `list -w/--wide` (agent, updated_at,
user_id, title cut to the terminal's width), on both layouts."""

from __future__ import annotations

import json

import pytest

from mofa.render import width
from tests.helpers import listed_ids, message, run, write_jsonl, write_session

LONG = "hello " * 40


@pytest.fixture
def sessions(root):
    write_session(
        root,
        "agent-a",
        "s1",
        [message("user", "Where to?", "2024-03-01T10:00:00Z")],
        "2024-03-01T10:00:00Z",
        updated_at="2024-03-01T15:00:00Z",
        metadata={"title": "Trip to Lyon", "user_id": "u-1"},
    )
    write_jsonl(
        root,
        "telegram:chat-7",
        [
            message("assistant", "Hi!", "2024-03-01T11:00:00Z"),
            message("user", "Book a table\nfor two", "2024-03-01T11:00:05Z"),
        ],
        created_at="2024-03-01T11:00:00Z",
        updated_at="2024-03-01T12:30:00Z",
    )
    # No updated_at and no messages: its last activity is its creation, a tie with b:s3's.
    write_session(root, "agent-a", "s2", [], "2024-03-01T12:00:00Z", metadata={"title": 42})
    write_session(
        root,
        "agent-b",
        "s3",
        [
            message("user", f"\n  {LONG.strip()}\nsecond line", "2024-03-01T09:00:00Z"),
            message("assistant", "Hello", "2024-03-01T12:00:00Z"),
        ],
        "2024-03-01T09:00:00Z",
        updated_at="not a time",
        metadata={"title": ["not", "text"]},
    )
    return root


BY_CREATION = ["agent-b:s3", "agent-a:s1", "telegram:chat-7", "agent-a:s2"]
BY_ACTIVITY = ["agent-a:s2", "agent-b:s3", "telegram:chat-7", "agent-a:s1"]


def test_sort_created_is_the_default(sessions):
    assert listed_ids(run("session", "list", "-f", "json")) == BY_CREATION
    assert listed_ids(run("session", "list", "--sort", "created", "-f", "json")) == BY_CREATION


def test_sort_updated_orders_by_last_activity_ties_by_id(sessions):
    result = run("session", "list", "--sort", "updated", "-f", "json")
    assert result.exit_code == 0
    assert listed_ids(result) == BY_ACTIVITY
    # Without --wide the rows are the page's four fields.
    assert all(
        list(item) == ["session_id", "created_at", "message_count", "status"]
        for item in json.loads(result.stdout)
    )


@pytest.mark.parametrize("limit", [0, 1, 2, 3, 4, 10])
def test_limit_with_sort_updated_keeps_the_most_recently_active(sessions, limit):
    result = run("session", "list", "--sort", "updated", "--limit", str(limit), "-f", "json")
    assert listed_ids(result) == BY_ACTIVITY[max(len(BY_ACTIVITY) - limit, 0) :]


def test_sort_updated_table_says_so_and_prints_oldest_first(sessions):
    result = run("session", "list", "--sort", "updated", "--limit", "2")
    assert result.exit_code == 0
    assert "  Sort: updated" in result.stderr
    lines = result.stdout.splitlines()
    assert [line.split("│")[1].strip() for line in lines[3:-1]] == [
        "telegram:chat-7",
        "agent-a:s1",
    ]


def test_a_bad_sort_is_a_usage_error(sessions):
    result = run("session", "list", "--sort", "name")
    assert result.exit_code == 2
    assert "Invalid value for '--sort'" in result.stderr


def test_wide_json_adds_agent_updated_user_and_title(sessions):
    result = run("session", "list", "-w", "-f", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [
        {
            "session_id": "agent-b:s3",
            "created_at": "2024-03-01 09:00:00",
            "message_count": 2,
            "status": "active",
            "agent": "agent-b",
            "updated_at": "2024-03-01 12:00:00",  # not a time: the last message's
            "user_id": None,
            "title": LONG.strip(),  # a title that is not text: the first user message's
        },
        {
            "session_id": "agent-a:s1",
            "created_at": "2024-03-01 10:00:00",
            "message_count": 1,
            "status": "active",
            "agent": "agent-a",
            "updated_at": "2024-03-01 15:00:00",
            "user_id": "u-1",
            "title": "Trip to Lyon",  # metadata.title
        },
        {
            "session_id": "telegram:chat-7",
            "created_at": "2024-03-01 11:00:00",
            "message_count": 2,
            "status": "active",
            "agent": "telegram",
            "updated_at": "2024-03-01 12:30:00",
            "user_id": None,
            "title": "Book a table",  # the first line of the first user message
        },
        {
            "session_id": "agent-a:s2",
            "created_at": "2024-03-01 12:00:00",
            "message_count": 0,
            "status": "empty",
            "agent": "agent-a",
            "updated_at": None,
            "user_id": None,
            "title": None,
        },
    ]


def test_wide_and_sort_combine(sessions):
    result = run("session", "list", "--wide", "--sort", "updated", "-n", "3", "-f", "json")
    assert listed_ids(result) == BY_ACTIVITY[1:]
    assert json.loads(result.stdout)[-1]["title"] == "Trip to Lyon"


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.split("│")[1:-1]]


@pytest.mark.parametrize("columns", [80, 200])
def test_wide_table_cuts_only_the_title_to_the_terminal(sessions, columns):
    result = run("session", "list", "-w", env={"COLUMNS": str(columns)})
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert cells(lines[1]) == [
        "session_id",
        "created_at",
        "message_count",
        "status",
        "agent",
        "updated_at",
        "user_id",
        "title",
    ]
    rows = {cells(line)[0]: cells(line) for line in lines[3:-1]}
    assert rows["agent-a:s1"][1:7] == [
        "2024-03-01 10:00:00",
        "1",
        "active",
        "agent-a",
        "2024-03-01 15:00:00",
        "u-1",
    ]
    assert rows["agent-a:s2"][5:] == ["-", "-", "-"]
    long_title = rows["agent-b:s3"][-1]
    assert long_title.endswith("...") and LONG.strip().startswith(long_title[:-3])
    if columns == 200:
        assert {width(line) for line in lines} == {200}  # the title takes what is left
        assert rows["agent-a:s1"][-1] == "Trip to Lyon"
        assert rows["telegram:chat-7"][-1] == "Book a table"
    else:
        # The other columns alone are wider than 80: they stay whole, the title keeps its
        # header's width.
        assert rows["agent-a:s1"][-1] == "Tr..."
        assert width(lines[0]) > 80


def test_wide_table_escapes_what_a_title_holds(root):
    write_session(root, "a", "s", [], metadata={"title": "red\x1b[31m\ttab"})
    result = run("session", "list", "-w", env={"COLUMNS": "200"})
    assert "red\\x1b[31m\\ttab" in result.stdout and "\x1b" not in result.stdout


def test_wide_lists_nothing_as_the_default_does(root):
    assert run("session", "list", "-w").stdout == "No sessions found.\n"
    assert run("session", "list", "-w", "-f", "json").stdout == "[]\n"


def test_help_shows_both_with_examples():
    text = run("session", "list", "--help").stdout
    assert "--sort [created|updated]" in text and "-w, --wide" in text
    assert "mofa session list --sort updated --limit 10" in text
    assert "mofa session list --wide" in text


def test_wide_table_shows_both_times_in_the_chosen_zone_and_json_in_utc(sessions):
    result = run("--timezone", "Asia/Tokyo", "session", "list", "-w", env={"COLUMNS": "200"})
    assert result.exit_code == 0
    rows = {cells(line)[0]: cells(line) for line in result.stdout.splitlines()[3:-1]}
    assert rows["agent-a:s1"][1] == "2024-03-01 19:00:00"
    assert rows["agent-a:s1"][5] == "2024-03-02 00:00:00"
    assert rows["agent-a:s2"][5] == "-"
    as_json = json.loads(
        run("--timezone", "Asia/Tokyo", "session", "list", "-w", "-f", "json").stdout
    )
    assert as_json[1]["updated_at"] == "2024-03-01 15:00:00"
