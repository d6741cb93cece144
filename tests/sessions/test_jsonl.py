"""MoFA's own session store (`<root>/<key>.jsonl`) beside the per-agent JSON layout."""

import json

import pytest
from ruamel.yaml import YAML

from tests.daemon_helpers import RunningDaemon, index_rows, wait_until
from tests.helpers import listed_ids, message, run, write_jsonl, write_session


def mofa_message(role, content, timestamp):
    """A message line as MoFA writes it: `{"role", "content", "timestamp"}`, the time in UTC
    with `Z` and (usually) nine fraction digits."""
    return {"role": role, "content": content, "timestamp": timestamp}


@pytest.fixture
def mixed(root):
    write_session(
        root, "agent-001", "session-123", [message("user", "x")] * 2, "2024-02-28T09:00:00Z"
    )
    write_jsonl(
        root,
        "agent-001:chat-7",
        [
            mofa_message("user", "Bonjour", "2024-02-28T10:30:05.123456789Z"),
            mofa_message("assistant", "Salut !", "2024-02-28T10:30:08.456789012Z"),
        ],
        metadata={"agent_id": "agent-001"},
        created_at="2024-02-28T10:30:00.123+00:00",
    )
    write_jsonl(
        root,
        "telegram:user_42",
        [mofa_message("user", "hi", "2024-02-28T11:00:01.000000001Z")],
        metadata={"agent_id": "support-bot"},
        created_at="2024-02-28T11:00:00+00:00",
    )
    write_jsonl(
        root,
        "écrivain:séance-1",
        [mofa_message("user", "ünïcödé", "2024-02-28T12:00:00.900000000Z")],
        created_at="2024-02-28T12:00:00.500+00:00",
    )
    return root


def test_list_mixes_both_layouts(mixed):
    rows = json.loads(run("session", "list", "-f", "json").stdout)
    assert rows == [
        {
            "session_id": "agent-001:session-123",
            "created_at": "2024-02-28 09:00:00",
            "message_count": 2,
            "status": "active",
        },
        {
            "session_id": "agent-001:chat-7",
            "created_at": "2024-02-28 10:30:00",
            "message_count": 2,
            "status": "active",
        },
        {
            "session_id": "telegram:user_42",
            "created_at": "2024-02-28 11:00:00",
            "message_count": 1,
            "status": "active",
        },
        {
            "session_id": "écrivain:séance-1",
            "created_at": "2024-02-28 12:00:00",
            "message_count": 1,
            "status": "active",
        },
    ]


def test_agent_comes_from_metadata_else_the_key(mixed):
    assert listed_ids(run("session", "list", "-a", "agent-001", "-f", "json")) == [
        "agent-001:session-123",
        "agent-001:chat-7",
    ]
    assert listed_ids(run("session", "list", "-a", "support-bot", "-f", "json")) == [
        "telegram:user_42"
    ]
    assert listed_ids(run("session", "list", "-a", "telegram", "-f", "json")) == []
    assert listed_ids(run("session", "list", "-a", "écrivain", "-f", "json")) == [
        "écrivain:séance-1"
    ]


def test_show_by_full_and_short_id(mixed):
    for wanted in ("agent-001:chat-7", "chat-7"):
        document = json.loads(run("session", "show", wanted, "-f", "json").stdout)
        assert document["session_id"] == "agent-001:chat-7"
        assert document["created_at"] == "2024-02-28T10:30:00.123Z"  # the stored fraction, in UTC
        assert [m["timestamp"] for m in document["messages"]] == [
            "2024-02-28T10:30:05.123456789Z",
            "2024-02-28T10:30:08.456789012Z",
        ]
    assert "│ 10:30:05  │ user      │ Bonjour" in run("session", "show", "chat-7").stdout
    assert (
        json.loads(run("session", "show", "séance-1", "-f", "json").stdout)["messages"][0][
            "content"
        ]
        == "ünïcödé"
    )
    assert json.loads(run("session", "show", "user_42", "-f", "json").stdout)["metadata"] == {
        "agent_id": "support-bot"
    }


def test_short_id_ambiguous_across_layouts(mixed):
    write_session(mixed, "other", "chat-7")
    result = run("session", "show", "chat-7")
    assert result.exit_code == 1
    assert "use one of: agent-001:chat-7, other:chat-7" in result.stderr


def test_export_is_lossless(mixed, tmp_path):
    path = mixed / "agent-001:chat-7.jsonl"
    header, *lines = [json.loads(line) for line in path.read_text().split("\n")]
    for fmt in ("json", "yaml"):
        out = tmp_path / f"chat.{fmt}"
        assert run("session", "export", "chat-7", "-o", str(out)).exit_code == 0
        loaded = (
            json.loads(out.read_text()) if fmt == "json" else YAML(typ="safe").load(out.read_text())
        )
        assert loaded == {"session_id": "agent-001:chat-7", **header, "messages": lines}


def test_delete(mixed):
    assert run("session", "delete", "telegram:user_42", "--force").exit_code == 0
    assert not (mixed / "telegram:user_42.jsonl").exists()
    assert "telegram:user_42" not in listed_ids(run("session", "list", "-f", "json"))


def test_unparseable_message_lines_are_skipped_with_a_warning(root):
    write_jsonl(
        root,
        "a:s",
        [mofa_message("user", "one", "2024-02-28T10:30:05.000000001Z")],
        extra_lines=[
            '{"role":"assistant","content":"trunc',
            "[1,2]",
            json.dumps(mofa_message("user", "two", "2024-02-28T10:31:00.000000002Z")),
        ],
    )
    listing = run("session", "list", "-f", "json")
    assert json.loads(listing.stdout)[0]["message_count"] == 2
    shown = run("session", "show", "a:s", "-f", "json")
    assert shown.exit_code == 0
    assert [m["content"] for m in json.loads(shown.stdout)["messages"]] == ["one", "two"]
    assert shown.stderr.splitlines() == [
        f"warning: {root / 'a:s.jsonl'}: line 3 is not valid JSON; skipped",
        f"warning: {root / 'a:s.jsonl'}: line 4 is not a JSON object; skipped",
    ]


def test_empty_and_header_only_files_are_empty_sessions(root):
    (root / "blank:one.jsonl").write_text("")
    write_jsonl(root, "head:only", [])
    rows = {r["session_id"]: r for r in json.loads(run("session", "list", "-f", "json").stdout)}
    assert rows["blank:one"]["status"] == "empty" and rows["blank:one"]["message_count"] == 0
    assert rows["head:only"]["status"] == "empty"
    assert run("session", "show", "blank:one").exit_code == 0


def test_a_header_without_key_takes_the_file_name(root):
    write_jsonl(root, None, file_stem="bot-9:conv-3", metadata={})
    assert listed_ids(run("session", "list", "-f", "json")) == ["bot-9:conv-3"]
    assert listed_ids(run("session", "list", "-a", "bot-9", "-f", "json")) == ["bot-9:conv-3"]
    assert run("session", "show", "conv-3").exit_code == 0


def test_a_key_unlike_the_file_name(root):
    write_jsonl(root, "agent-5:renamed", file_stem="something-else")
    assert run("session", "show", "agent-5:renamed", "-f", "json").exit_code == 0
    assert run("session", "show", "renamed", "-f", "json").exit_code == 0
    assert run("session", "delete", "agent-5:renamed", "--force").exit_code == 0
    assert not (root / "something-else.jsonl").exists()


def test_a_corrupt_header_is_an_unreadable_file(root):
    (root / "x:y.jsonl").write_text(
        "not json\n" + json.dumps(mofa_message("user", "a", "2024-01-01T00:00:00.100000000Z"))
    )
    write_jsonl(root, "ok:1")
    listing = run("session", "list", "-f", "json")
    assert listed_ids(listing) == ["ok:1"]
    assert "line 1 is not a JSON object (the session header)" in listing.stderr


def test_index_and_verify_cover_both_layouts(mixed):
    run("session", "list")
    assert run("session", "index", "verify").exit_code == 0
    rows = json.loads(
        run(
            "session",
            "query",
            "SELECT session_id, agent, layout FROM sessions ORDER BY 1",
            "-f",
            "json",
        ).stdout
    )
    assert {(r["session_id"], r["layout"]) for r in rows} == {
        ("agent-001:chat-7", "jsonl"),
        ("agent-001:session-123", "json"),
        ("telegram:user_42", "jsonl"),
        ("écrivain:séance-1", "jsonl"),
    }


def test_the_watcher_follows_jsonl_files(root, index_path):
    running = RunningDaemon(root, index_path)
    running.wait_for_log("watching")
    try:
        path = write_jsonl(root, "agent-2:live", [])
        assert wait_until(lambda: index_rows(index_path).get("agent-2:live") == (0, "empty"))
        # MoFA saves by rewriting the whole file in place (not atomically)
        write_jsonl(
            root, "agent-2:live", [mofa_message("user", "new", "2024-02-28T10:31:00.100000000Z")]
        )
        assert wait_until(lambda: index_rows(index_path).get("agent-2:live") == (1, "active"))
        path.unlink()
        assert wait_until(lambda: "agent-2:live" not in index_rows(index_path))
    finally:
        assert running.stop() == 0


def test_a_numeric_agent_id_is_the_agent_as_text(root):
    write_jsonl(root, "tg:1", metadata={"agent_id": 42})
    write_jsonl(root, "tg:2", metadata={"agent_id": True})
    assert listed_ids(run("session", "list", "-a", "42", "-f", "json")) == ["tg:1"]
    assert listed_ids(run("session", "list", "-a", "tg", "-f", "json")) == ["tg:2"]
