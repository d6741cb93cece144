"""`delete ID...` and `delete -`: many sessions, one prompt, one process."""

from __future__ import annotations

import subprocess

from tests.helpers import BIN, listed_ids, run, run_installed, write_jsonl, write_session


def test_several_ids_one_prompt(root):
    for name in ("s1", "s2", "s3"):
        write_session(root, "a", name)
    write_jsonl(root, "k:1")
    cancelled = run("session", "delete", "a:s1", "s2", "k:1", input="no\n")
    assert cancelled.exit_code == 0
    assert "Delete 3 sessions? [y/N]: " in cancelled.stderr and "Cancelled" in cancelled.stderr
    assert len(listed_ids(run("session", "list", "-f", "json"))) == 4
    result = run("session", "delete", "a:s1", "s2", "k:1", input="y\n")
    assert result.exit_code == 0, result.stderr
    assert "✓ Deleted 3 sessions" in result.stderr
    assert listed_ids(run("session", "list", "-f", "json")) == ["a:s3"]


def test_failures_are_one_line_each_and_the_first_sets_the_status(root):
    write_session(root, "a", "s1")
    write_session(root, "b", "same")
    write_session(root, "c", "same")
    result = run("session", "delete", "nope:x", "a:s1", "same", "../bad", "--force")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 3
    assert "✓ Deleted 1 session" in result.stderr
    assert sorted(listed_ids(run("session", "list", "-f", "json"))) == ["b:same", "c:same"]


def test_ids_from_standard_input_with_force(root):
    for number in range(50):
        write_session(root, f"agent-{number % 3}", f"s{number}")
    ids = "\n".join(f"agent-{number % 3}:s{number}" for number in range(0, 50, 2)) + "\n"
    result = run_installed("session", "delete", "-", "--force", input=ids)
    assert result.returncode == 0, result.stderr
    assert "✓ Deleted 25 sessions" in result.stderr
    assert len(listed_ids(run("session", "list", "-f", "json"))) == 25


def test_ids_from_standard_input_without_a_terminal_cancel(root):
    write_session(root, "a", "s1")
    result = subprocess.run(
        [str(BIN / "mofa"), "session", "delete", "-"],
        input="a:s1\n",
        text=True,
        capture_output=True,
        timeout=60,
        start_new_session=True,
    )  # no /dev/tty
    assert result.returncode == 0
    assert "Cancelled" in result.stderr
    assert listed_ids(run("session", "list", "-f", "json")) == ["a:s1"]


def test_the_list_jq_delete_pipeline_of_the_readme(root):
    for number in range(20):
        write_session(root, "a", f"s{number}", messages=[] if number % 2 else None)
    listing = run_installed("session", "list", "--status", "empty", "-f", "json").stdout
    import json

    ids = "".join(item["session_id"] + "\n" for item in json.loads(listing))
    result = run_installed("session", "delete", "-", "--force", input=ids)
    assert result.returncode == 0, result.stderr
    assert len(listed_ids(run("session", "list", "-f", "json"))) == 10
    assert not [
        item
        for item in json.loads(run("session", "list", "-f", "json").stdout)
        if item["status"] == "empty"
    ]


def test_emptied_agent_directories_go_but_never_the_root(root):
    write_session(root, "a", "s1")
    write_session(root, "a", "s2")
    assert run("session", "delete", "a:s1", "a:s2", "--force").exit_code == 0
    assert not (root / "a").exists() and root.is_dir()
