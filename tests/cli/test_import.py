"""`mofa session import`: export files and whole roots back into a store."""

from __future__ import annotations

import json
import os

from tests.helpers import listed_ids, message, run, write_jsonl, write_session


def export(session_id: str, path) -> str:
    result = run("session", "export", session_id, "-o", str(path))
    assert result.exit_code == 0, result.stderr
    return path.read_text()


def test_export_delete_import_gives_back_an_identical_export(root, tmp_path):
    write_session(
        root,
        "agent-001",
        "s1",
        [message("user", "Hi"), message("tool", {"rows": [1, 2.5, None]})],
        metadata={"agent_id": "agent-001", "tags": ["x"]},
        status="closed",
        extra={"kept": True},
    )
    write_jsonl(root, "telegram:chat-42", metadata={"agent_id": "bot", "n": 1})
    for session_id, suffix in (("agent-001:s1", "json"), ("telegram:chat-42", "yaml")):
        before = export(session_id, tmp_path / f"before.{suffix}")
        assert run("session", "delete", session_id, "--force").exit_code == 0
        imported = run("session", "import", str(tmp_path / f"before.{suffix}"))
        assert imported.exit_code == 0, imported.stderr
        assert "✓ Imported 1 session (0 replaced, 0 unchanged)" in imported.stderr
        assert export(session_id, tmp_path / f"after.{suffix}") == before


def test_an_existing_id_is_refused_unless_replace(root, tmp_path):
    path = write_session(root, "a", "s", [message("user", "old")])
    export("a:s", tmp_path / "s.json")
    document = json.loads((tmp_path / "s.json").read_text())
    document["messages"][0]["content"] = "new"
    (tmp_path / "s.json").write_text(json.dumps(document))
    refused = run("session", "import", str(tmp_path / "s.json"))
    assert refused.exit_code == 1
    assert "already exists" in refused.stderr and "--replace" in refused.stderr
    assert "old" in path.read_text()
    replaced = run("session", "import", "--replace", str(tmp_path / "s.json"))
    assert replaced.exit_code == 0, replaced.stderr
    assert json.loads(path.read_text())["messages"][0]["content"] == "new"


def test_importing_the_same_file_twice_changes_nothing(root, tmp_path):
    write_session(root, "a", "s")
    export("a:s", tmp_path / "s.json")
    again = run("session", "import", str(tmp_path / "s.json"))
    assert again.exit_code == 0
    assert "(0 replaced, 1 unchanged)" in again.stderr


def test_from_dir_copies_a_root_and_is_idempotent(root, tmp_path):
    source = tmp_path / "other"
    for number in range(5):
        write_session(source, f"agent-{number % 2}", f"s{number}")
    write_jsonl(source, "user/42", file_stem="user_42")
    (source / "agent-0" / "broken.json").write_text("{")
    first = run("session", "import", "--from-dir", str(source))
    assert first.exit_code == 0, first.stderr
    assert "✓ Imported 6 sessions" in first.stderr
    assert "broken.json" in first.stderr
    assert sorted(listed_ids(run("session", "list", "-f", "json"))) == sorted(
        ["agent-0:s0", "agent-0:s2", "agent-0:s4", "agent-1:s1", "agent-1:s3", "user/42"]
    )
    second = run("session", "import", "--from-dir", str(source))
    assert "✓ Imported 0 sessions (0 replaced, 6 unchanged)" in second.stderr
    assert (root / "user_42.jsonl").exists()


def test_bad_imports_each_get_one_error_line(root, tmp_path):
    (tmp_path / "bad.json").write_text("{nope")
    (tmp_path / "noid.json").write_text(json.dumps({"messages": []}))
    result = run(
        "session",
        "import",
        str(tmp_path / "bad.json"),
        str(tmp_path / "noid.json"),
        str(tmp_path / "missing.json"),
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 3
    assert result.exit_code == 3  # the first failure's status: an unreadable file
    assert os.listdir(root) == []


def test_usage(root, tmp_path):
    assert run("session", "import").exit_code == 2
    assert run("session", "import", "x.json", "--from-dir", str(tmp_path)).exit_code == 2


def test_an_id_no_file_can_hold_is_refused_and_nothing_is_written(root, tmp_path):
    for session_id in ("../../etc:passwd", "a/b:c", ".hidden:x", "../no-colon"):
        (tmp_path / "x.json").write_text(json.dumps({"session_id": session_id, "messages": []}))
        result = run("session", "import", str(tmp_path / "x.json"))
        assert result.exit_code == 1, (session_id, result.stderr)
        assert "cannot be stored in a files root" in result.stderr
    assert os.listdir(root) == []
    assert not (tmp_path / "etc").exists()


def test_a_mofa_key_of_any_spelling_round_trips(root, tmp_path):
    write_jsonl(root, "user/42", file_stem="user_42")
    export("user/42", tmp_path / "k.json")
    assert run("session", "delete", "user/42", "--force").exit_code == 0
    assert run("session", "import", str(tmp_path / "k.json")).exit_code == 0
    assert (root / "user_42.jsonl").exists()
    assert export("user/42", tmp_path / "again.json") == (tmp_path / "k.json").read_text()


def test_a_session_imported_into_an_agent_directory_named_like_a_mofa_file_is_listed(
    root, tmp_path
):
    # `notes.jsonl` is a plain agent name: its directory is no MoFA file.
    (tmp_path / "s.json").write_text(
        json.dumps({"session_id": "notes.jsonl:s1", "messages": [message("user", "kept")]})
    )
    imported = run("session", "import", str(tmp_path / "s.json"))
    assert imported.exit_code == 0, imported.stderr
    assert (root / "notes.jsonl" / "s1.json").is_file()
    assert listed_ids(run("session", "list", "-f", "json")) == ["notes.jsonl:s1"]
    shown = run("session", "show", "notes.jsonl:s1", "-f", "json")
    assert shown.exit_code == 0 and "kept" in shown.output
    assert run("session", "delete", "notes.jsonl:s1", "--force").exit_code == 0
    assert not (root / "notes.jsonl").exists()


def test_a_file_that_does_not_exist_is_named_as_such(root, tmp_path):
    result = run("session", "import", str(tmp_path / "missing.json"))
    assert result.exit_code == 1
    assert f"Error: no such file: {tmp_path / 'missing.json'}" in result.stderr.splitlines()
    assert "vanished" not in result.stderr
