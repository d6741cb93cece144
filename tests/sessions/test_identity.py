"""Which file an id names: MoFA keys of any spelling, two files claiming one id, and deletion
that never leaves the root."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import listed_ids, message, run, write_session


def write_mofa(root, key: str, file_stem: str | None = None, content: str = "hi") -> str:
    """A session file as MoFA writes it: sanitized file name, no trailing newline."""
    from mofa.ids import mofa_file_stem

    header = {
        "key": key,
        "created_at": "2024-02-28T10:30:00.123456789+00:00",
        "updated_at": "2024-02-28T10:30:00.123456789+00:00",
        "metadata": {},
    }
    line = {"role": "user", "content": content, "timestamp": "2024-02-28T10:30:05.389498634Z"}
    path = root / f"{file_stem if file_stem is not None else mofa_file_stem(key)}.jsonl"
    path.write_text(json.dumps(header) + "\n" + json.dumps(line), encoding="utf-8")
    return str(path)


KEYS = [
    "user/42",
    "../escape",
    ".hidden",
    "a\\b",
    "tab\tkey",
    ":x",
    "chat.v2:thread 7",
    "café:naïve",
    "emoji🙂:x",
    "plain",
]


@pytest.mark.parametrize("key", KEYS)
def test_every_listed_key_works_verbatim_in_show_export_and_delete(root, tmp_path, key):
    path = write_mofa(root, key)
    assert listed_ids(run("session", "list", "-f", "json")) == [key]
    shown = run("session", "show", key, "-f", "json")
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout)["session_id"] == key
    exported = run("session", "export", key, "-o", str(tmp_path / "out.json"))
    assert exported.exit_code == 0, exported.stderr
    assert json.loads((tmp_path / "out.json").read_text())["key"] == key
    deleted = run("session", "delete", key, "--force")
    assert deleted.exit_code == 0, deleted.stderr
    assert not os.path.exists(path)
    assert listed_ids(run("session", "list", "-f", "json")) == []


def test_a_per_agent_file_wins_over_a_jsonl_header_for_every_command(root):
    per_agent = write_session(root, "a", "b", [message("user", "per-agent")])
    mofa = write_mofa(root, "a:b", content="jsonl")
    for _ in range(2):
        listing = run("session", "list", "-f", "json")
        assert [
            (item["session_id"], item["message_count"]) for item in json.loads(listing.stdout)
        ] == [("a:b", 1)]
        assert "also used by" in listing.stderr
        shown = json.loads(run("session", "show", "a:b", "-f", "json").stdout)
        assert shown["messages"][0]["content"] == "per-agent"
        assert run("session", "index", "rebuild").exit_code == 0
    assert run("session", "delete", "a:b", "--force").exit_code == 0
    assert not per_agent.exists() and os.path.exists(mofa)
    # The other claimant becomes visible when the winner goes.
    shown = json.loads(run("session", "show", "a:b", "-f", "json").stdout)
    assert shown["messages"][0]["content"] == "jsonl"
    assert listed_ids(run("session", "list", "-f", "json")) == ["a:b"]


def test_an_agent_directory_with_a_colon_against_a_longer_key(root):
    write_session(root, "a:b", "c", [message("user", "dir")])
    write_mofa(root, "a:b:c", content="jsonl")
    assert listed_ids(run("session", "list", "-f", "json")) == ["a:b:c"]
    assert (
        json.loads(run("session", "show", "a:b:c", "-f", "json").stdout)["messages"][0]["content"]
        == "dir"
    )
    verify = run("session", "index", "verify")
    assert verify.exit_code == 0, verify.stdout + verify.stderr
    assert verify.stdout.startswith("duplicate: ") and "a:b:c.jsonl" in verify.stdout


def test_among_jsonl_files_the_one_named_for_the_key_wins_and_the_other_is_released(root):
    stray = write_mofa(root, "k:1", file_stem="0-first-in-byte-order", content="stray")
    own = write_mofa(root, "k:1", content="own")
    for _ in range(2):
        assert (
            json.loads(run("session", "show", "k:1", "-f", "json").stdout)["messages"][0]["content"]
            == "own"
        )
        run("session", "index", "rebuild")
    assert run("session", "delete", "k:1", "--force").exit_code == 0
    assert not os.path.exists(own) and os.path.exists(stray)
    assert (
        json.loads(run("session", "show", "k:1", "-f", "json").stdout)["messages"][0]["content"]
        == "stray"
    )


def test_delete_refuses_an_agent_directory_swapped_for_a_symlink_while_the_prompt_waits(
    root, tmp_path
):
    outside = tmp_path / "outside"
    victim = outside / "s.json"
    outside.mkdir()
    victim.write_text("{}")
    write_session(root, "agent", "s")
    env = {"MOFA_SESSIONS_DIR": str(root)}
    import subprocess

    from tests.helpers import BIN

    process = subprocess.Popen(
        [str(BIN / "mofa"), "session", "delete", "agent:s"],
        env={**os.environ, **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Wait for the prompt, then swap the directory for a link to the outside one.
        prompt = ""
        while "Delete session?" not in prompt:
            char = process.stderr.read(1)
            assert char, prompt
            prompt += char
        os.rename(root / "agent", tmp_path / "moved-away")
        os.symlink(outside, root / "agent")
        _, stderr = process.communicate("y\n", timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 3, stderr
    assert victim.exists()
    assert (tmp_path / "moved-away" / "s.json").exists()
    assert "nothing deleted" in stderr


def test_a_tampered_index_row_cannot_make_delete_remove_a_file_outside(root, tmp_path, index_path):
    victim = tmp_path / "victim.jsonl"
    victim.write_text("precious")
    write_mofa(root, "k:1")
    assert listed_ids(run("session", "list", "-f", "json")) == ["k:1"]
    with sqlite3.connect(index_path) as conn:
        conn.execute("UPDATE sessions SET path = ?, file = ?", (str(victim), "../victim.jsonl"))
    conn.close()
    run("session", "delete", "k:1", "--force")
    assert victim.read_text() == "precious"


def test_list_never_reads_an_agent_named_through_a_symlink_or_hidden(root, tmp_path):
    outside = tmp_path / "outside-agent"
    write_session(tmp_path, "outside-agent", "secret")
    os.symlink(outside, root / "linked")
    write_session(root, ".hidden", "secret")
    for agent in ("linked", ".hidden"):
        assert listed_ids(run("session", "list", "-a", agent, "-f", "json")) == []
    assert listed_ids(run("session", "list", "-f", "json")) == []
    query = run("session", "query", "SELECT count(*) AS n FROM sessions", "-f", "json")
    assert json.loads(query.stdout) == [{"n": 0}]


@pytest.mark.parametrize(
    "agent, name",
    [("agent", "tab\tname"), ("agent", "back\\slash"), ("bell\x07", "s"), ("back\\slash", "s")],
)
def test_per_agent_names_no_id_can_name_are_left_out_with_a_warning(root, agent, name):
    write_session(root, agent, name)
    write_session(root, "good", "s")
    listing = run("session", "list", "-f", "json")
    assert listed_ids(listing) == ["good:s"]
    assert "which no session id can name; left out" in listing.stderr
    for session_id in listed_ids(listing):
        assert run("session", "show", session_id, "-f", "json").exit_code == 0


NAMES = st.text(
    alphabet=st.sampled_from(list("ab.:-_\\\t\x07é🙂/ ")) | st.characters(codec="utf-8"),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(agent=NAMES, stem=NAMES, suffix=st.sampled_from([".json", ".jsonl", ".txt", ""]))
def test_the_scans_follow_the_one_rule_for_session_names(tmp_path_factory, agent, stem, suffix):
    """tree.scan_root / scan_agent_dir inline `is_session_name`: they must agree with it."""
    from mofa import tree

    root = tmp_path_factory.mktemp("rule")
    name = stem + suffix
    if "/" in agent or "/" in name or agent in (".", "..") or name in (".", ".."):
        return
    try:
        (root / agent).mkdir()
        (root / agent / name).write_text("{}")
        (root / name).write_text("{}")
    except (OSError, ValueError):  # a name no file system takes (NUL, too long)
        return
    listing = tree.scan_root(str(root), [])
    assert (agent in listing.agents) == tree.is_agent_name(agent)
    assert (
        [stat.name for stat in listing.jsonl if stat.name == name] == [name]
    ) == tree.is_session_name("", name)
    if tree.is_agent_name(agent):
        found = [stat.name for stat in tree.scan_agent_dir(str(root / agent), [])]
        assert (name in found) == tree.is_session_name(agent, name)


def test_the_mirror_sends_the_file_every_local_command_shows():
    """indexer.mirror.winner_of follows the same rule as the index (claim_rank)."""
    from indexer.mirror import winner_of

    assert winner_of("a:b", {("", "a:b.jsonl"), ("a", "b.json")}) == ("a", "b.json")
    assert winner_of("a:b:c", {("a:b", "c.json"), ("a", "b:c.json")}) == ("a", "b:c.json")
    assert winner_of("k:1", {("", "0-first.jsonl"), ("", "k:1.jsonl")}) == ("", "k:1.jsonl")
    assert winner_of("user/42", {("", "z.jsonl"), ("", "b.jsonl")}) == ("", "b.jsonl")
    assert winner_of("user/42", {("", "z.jsonl"), ("", "user_42.jsonl")}) == ("", "user_42.jsonl")
