"""`list` filters, `search` and `prune` through the command line, both layouts."""

from __future__ import annotations

import json
import os

import pytest
from freezegun import freeze_time

from tests.helpers import listed_ids, message, run, write_jsonl, write_session


@pytest.fixture
def fleet(root):
    write_session(
        root,
        "agent-001",
        "old",
        [message("user", "refund my order")],
        created_at="2024-01-01T10:00:00Z",
        metadata={"user_id": "u1", "tags": ["billing"]},
    )
    write_session(
        root,
        "agent-001",
        "mid",
        [message("user", "hello")] * 3,
        created_at="2024-02-15T10:00:00Z",
        status="closed",
        metadata={"user_id": "u2", "tags": ["billing", "vip"]},
    )
    write_session(root, "agent-002", "new", [], created_at="2024-03-01T10:00:00Z")
    write_jsonl(
        root,
        "telegram:chat-42",
        [message("user", "Where is the refund?", "2024-02-20T10:00:05.123456789Z")],
        metadata={"agent_id": "agent-003", "user_id": "u1", "tags": ["vip"]},
        created_at="2024-02-20T10:00:00.5+00:00",
    )
    return root


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--since", "2024-02-01"], ["agent-001:mid", "telegram:chat-42", "agent-002:new"]),
        (["--until", "2024-02-16"], ["agent-001:old", "agent-001:mid"]),
        (["--since", "2024-02-01", "--until", "2024-02-20T10:00:00.5Z"], ["agent-001:mid"]),
        (["--status", "closed", "--status", "empty"], ["agent-001:mid", "agent-002:new"]),
        (["--user", "u1"], ["agent-001:old", "telegram:chat-42"]),
        (["--tag", "billing"], ["agent-001:old", "agent-001:mid"]),
        (["--tag", "billing", "--tag", "vip"], ["agent-001:mid"]),
        (["--tag", "vip", "--limit", "1"], ["telegram:chat-42"]),
        (["--agent", "agent-001", "--user", "u1"], ["agent-001:old"]),
        (["--user", "nobody"], []),
    ],
)
def test_list_filters_combine_and_the_limit_applies_after_them(fleet, args, expected):
    result = run("session", "list", *args, "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert listed_ids(result) == expected


def test_list_since_a_duration_counts_back_from_now(fleet):
    with freeze_time("2024-03-02T00:00:00Z"):
        assert listed_ids(run("session", "list", "--since", "15d", "-f", "json")) == [
            "telegram:chat-42",
            "agent-002:new",
        ]


def test_list_filters_are_as_fresh_as_list(fleet):
    write_session(
        fleet,
        "agent-009",
        "fresh",
        created_at="2024-05-01T00:00:00Z",
        metadata={"tags": ["billing"]},
    )
    assert (
        listed_ids(run("session", "list", "--tag", "billing", "-f", "json"))[-1]
        == "agent-009:fresh"
    )


@pytest.mark.parametrize(
    "args", [["--since", "yesterday"], ["--until", "2024-13-01"], ["--since", "-1d"]]
)
def test_bad_times_are_usage_errors(fleet, args):
    result = run("session", "list", *args)
    assert result.exit_code == 2
    assert [line for line in result.stderr.splitlines() if line.startswith("Error:")]


def test_list_table_says_what_it_filters(fleet):
    result = run("session", "list", "--tag", "vip", "--status", "active")
    assert "  Status: active\n" in result.stderr and "  Tags: vip\n" in result.stderr
    assert "telegram:chat-42" in result.stdout


# -- search --------------------------------------------------------------------------------------


def test_search_json_and_table(fleet):
    result = run("session", "search", "refund", "-f", "json")
    assert result.exit_code == 0, result.stderr
    found = json.loads(result.stdout)
    assert sorted(item["session_id"] for item in found) == ["agent-001:old", "telegram:chat-42"]
    assert {item["matches"] for item in found} == {1}
    assert all("refund" in item["snippet"].lower() for item in found)
    table = run("session", "search", "refund", "--agent", "agent-003")
    assert table.exit_code == 0
    assert "telegram:chat-42" in table.stdout and "agent-001:old" not in table.stdout
    assert "\x1b" not in table.stdout  # no colour off a terminal


def test_search_is_fresh_right_after_a_write(fleet):
    assert json.loads(run("session", "search", "zebra", "-f", "json").stdout) == []
    write_session(fleet, "agent-002", "zoo", [message("assistant", "a zebra!")])
    assert [
        item["session_id"]
        for item in json.loads(run("session", "search", "zebra", "-f", "json").stdout)
    ] == ["agent-002:zoo"]
    (fleet / "agent-002" / "zoo.json").unlink()
    assert json.loads(run("session", "search", "zebra", "-f", "json").stdout) == []


@pytest.mark.parametrize("query", ["", '"open', "***"])
def test_a_query_it_cannot_take_is_one_error_line_exit_2(fleet, query):
    result = run("session", "search", query)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("Error:")


def test_nothing_found(fleet):
    assert run("session", "search", "zzz").stdout == "No sessions found.\n"


# -- prune ---------------------------------------------------------------------------------------


def test_prune_dry_run_deletes_nothing(fleet):
    result = run("session", "prune", "--before", "2024-02-16", "--dry-run")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == ["agent-001:old", "agent-001:mid"]
    assert "Would prune 2 sessions (4 messages)" in result.stderr
    assert len(listed_ids(run("session", "list", "-f", "json"))) == 4


def test_prune_asks_once_and_removes_emptied_agent_directories(fleet):
    cancelled = run("session", "prune", "--before", "2024-02-16", input="n\n")
    assert cancelled.exit_code == 0 and "Prune 2 sessions? [y/N]" in cancelled.stderr
    assert len(listed_ids(run("session", "list", "-f", "json"))) == 4
    result = run("session", "prune", "--before", "2024-02-16", input="y\n")
    assert result.exit_code == 0, result.stderr
    assert "✓ Pruned 2 sessions (4 messages)" in result.stderr
    assert listed_ids(run("session", "list", "-f", "json")) == ["telegram:chat-42", "agent-002:new"]
    assert not (fleet / "agent-001").exists()
    assert fleet.exists()


def test_prune_older_than_with_agent_and_status(fleet):
    with freeze_time("2024-03-02T00:00:00Z"):
        result = run("session", "prune", "--older-than", "1d", "--status", "active", "--force")
    assert "✓ Pruned 2 sessions (2 messages)" in result.stderr
    assert listed_ids(run("session", "list", "-f", "json")) == ["agent-001:mid", "agent-002:new"]


def test_prune_archives_first(fleet, tmp_path):
    archive = tmp_path / "archive"
    result = run(
        "session",
        "prune",
        "--before",
        "2024-02-21",
        "--agent",
        "agent-003",
        "--archive",
        str(archive),
        "--force",
    )
    assert result.exit_code == 0, result.stderr
    saved = json.loads((archive / "agent-003" / "@telegram%3Achat-42.json").read_text())
    assert (
        saved["key"] == "telegram:chat-42"
        and saved["messages"][0]["content"] == "Where is the refund?"
    )
    assert not (fleet / "telegram:chat-42.jsonl").exists()


def test_a_session_whose_archive_fails_is_kept(fleet, tmp_path):
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "agent-001").write_text("a file where a directory must go")
    result = run("session", "prune", "--before", "2024-02-16", "--archive", str(archive), "--force")
    assert result.exit_code == 3
    assert "✓ Pruned 0 sessions (0 messages)" in result.stderr
    assert result.stderr.count("kept)") == 2
    assert len(listed_ids(run("session", "list", "-f", "json"))) == 4


def test_prune_refuses_an_archive_inside_the_root(fleet):
    result = run(
        "session", "prune", "--before", "2025-01-01", "--archive", str(fleet / "archive"), "--force"
    )
    assert result.exit_code == 2
    assert len(listed_ids(run("session", "list", "-f", "json"))) == 4


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--older-than", "1d", "--before", "2024-01-01"],
        ["--older-than", "7"],
        ["--before", "soon"],
    ],
)
def test_prune_usage(fleet, args):
    result = run("session", "prune", *args, "--force")
    assert result.exit_code == 2
    assert len(listed_ids(run("session", "list", "-f", "json"))) == 4


def test_nothing_to_prune(fleet):
    result = run("session", "prune", "--before", "2000-01-01", "--force")
    assert (result.exit_code, result.stderr) == (0, "No sessions to prune.\n")
    assert os.path.exists(fleet / "agent-001" / "old.json")
