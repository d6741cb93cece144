""" "Did you mean": up to three close ids or agents when a look-up finds nothing."""

from __future__ import annotations

import json

import pytest

from mofa.documents import export_document
from mofa.stores import open_store
from mofa.suggestions import close_matches, did_you_mean
from tests.helpers import listed_ids, run, run_installed, write_jsonl, write_session


@pytest.fixture
def sessions(root):
    for name in ("session-123", "session-124", "session-125", "session-126", "other"):
        write_session(root, "agent-001", name)
    write_session(root, "agent-002", "billing")
    write_jsonl(root, "telegram:chat-42")
    return root


def suggested(stderr: str) -> list[str]:
    line = stderr.strip().splitlines()[-1]
    assert "(did you mean " in line, stderr
    listed = line.split("(did you mean ", 1)[1].rstrip("?)")
    return listed.replace(" or ", ", ").split(", ")


@pytest.mark.parametrize(
    "args",
    [
        ("show", "agent-001:sesion-123"),
        ("export", "agent-001:sesion-123", "-o", "{tmp}/out.json"),
        ("delete", "agent-001:sesion-123", "--force"),
    ],
)
def test_a_mistyped_id_gets_at_most_three_close_ids(sessions, tmp_path, args):
    result = run_installed("session", *(arg.replace("{tmp}", str(tmp_path)) for arg in args))
    assert result.returncode == 1
    assert result.stderr.startswith("Error: session not found: agent-001:sesion-123 (did you")
    assert len(result.stderr.splitlines()) == 1
    ids = suggested(result.stderr)
    assert ids[0] == "agent-001:session-123" and 1 <= len(ids) <= 3
    assert all(session_id.startswith("agent-001:session-12") for session_id in ids)
    assert not (tmp_path / "out.json").exists()
    assert len(listed_ids(run("session", "list", "-f", "json"))) == 7


def test_a_mistyped_short_id_and_mofa_key(sessions):
    short = run("session", "show", "biling")
    assert short.exit_code == 1
    assert suggested(short.stderr) == ["agent-002:billing"]
    key = run("session", "show", "telegram:chat-24")
    assert "telegram:chat-42" in suggested(key.stderr)


def test_delete_of_several_suggests_on_each_error_line(sessions):
    result = run("session", "delete", "agent-001:other", "agent-002:biling", "zzzzzz", "--force")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 2
    assert suggested(errors[0]) == ["agent-002:billing"]
    assert errors[1] == "Error: session not found: zzzzzz"  # nothing close: nothing offered
    assert "agent-001:other" not in listed_ids(run("session", "list", "-f", "json"))


def test_an_id_found_or_far_from_every_id_gets_no_suggestion(sessions):
    assert "did you mean" not in run("session", "show", "agent-001:session-123").stderr
    far = run("session", "show", "nothing-like-it:at-all")
    assert far.exit_code == 1 and "did you mean" not in far.stderr
    same_agent = run("session", "show", "agent-001:nope")  # a shared agent is no likeness
    assert same_agent.stderr == "Error: session not found: agent-001:nope\n"


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_list_of_a_mistyped_agent_hints_on_stderr_only(sessions, fmt):
    result = run("session", "list", "--agent", "agent-01", "-f", fmt)
    assert result.exit_code == 0
    assert result.stdout == ("No sessions found.\n" if fmt == "table" else "[]\n")
    hint = result.stderr.strip().splitlines()[-1]
    assert hint.startswith("No agent named agent-01 (did you mean ")
    assert suggested(hint) == ["agent-001"]  # agent-002 is further: only a look-alike


def test_list_of_a_known_agent_filtered_to_nothing_gives_no_hint(sessions):
    result = run("session", "list", "--agent", "agent-001", "--since", "1d")
    assert result.stdout == "No sessions found.\n"
    assert "did you mean" not in result.stderr and "No agent" not in result.stderr
    nothing_close = run("session", "list", "--agent", "zzzzzzzz")
    assert "did you mean" not in nothing_close.stderr


def test_suggestions_on_postgresql(sessions, pg_url):
    files = open_store(root=str(sessions), indexed=False)
    with open_store(pg_url) as database:
        for row in files.list():
            database.save(row.session_id, export_document(files.get(row.session_id)))
    shown = run("--store", pg_url, "session", "show", "agent-002:biling")
    assert shown.exit_code == 1
    assert suggested(shown.stderr) == ["agent-002:billing"]
    listed = run("--store", pg_url, "session", "list", "--agent", "agent-02", "-f", "json")
    assert json.loads(listed.stdout) == []
    assert "agent-002" in suggested(listed.stderr)


def test_close_matches_ranks_and_limits():
    candidates = [(f"a:s{n}", f"s{n}") for n in range(10, 20)]
    assert close_matches("a:s1", candidates) == ["a:s10", "a:s11", "a:s12"]  # three at most
    assert close_matches("S15", candidates)[0] == "a:s15"  # by its session part, any case
    assert "a:s15" not in close_matches("a:s15", candidates)  # never the id itself
    assert close_matches("zzzz", candidates) == []
    assert did_you_mean([]) == ""
    assert did_you_mean(["a"]) == " (did you mean a?)"
    assert did_you_mean(["a", "b", "c"]) == " (did you mean a, b or c?)"
    assert did_you_mean(["x y"]) == " (did you mean 'x y'?)"
