"""Counts in messages: `1 session`, `2 sessions`, in every command's lines."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import REPO, message, run, write_session


def sessions(root, count: int, messages: int = 1) -> list[str]:
    for number in range(count):
        write_session(root, "a", f"s{number}", [message("user", "hi")] * messages)
    return [f"a:s{number}" for number in range(count)]


def test_counted():
    from mofa.plurals import counted

    assert counted(0, "session") == "0 sessions"
    assert counted(1, "session") == "1 session"
    assert counted(2, "index", "indexes") == "2 indexes"
    assert counted(1, "index", "indexes") == "1 index"
    assert counted(67108864, "byte", spec=",") == "67,108,864 bytes"


@pytest.mark.parametrize(("n", "noun"), [(1, "message"), (2, "messages")])
def test_delete_one_counts_its_messages(root, n, noun):
    sessions(root, 1, messages=n)
    result = run("session", "delete", "a:s0", input="n\n")
    assert f"Session contains {n} {noun}." in result.stderr


@pytest.mark.parametrize(("n", "noun"), [(1, "session"), (2, "sessions")])
def test_delete_many_counts_sessions(root, n, noun):
    ids = sessions(root, n)
    result = run("session", "delete", "-", "--force", input="\n".join(ids) + "\n")
    assert result.exit_code == 0, result.stderr
    assert f"→ Deleting {n} {noun}\n" in result.stderr
    assert f"✓ Deleted {n} {noun}\n" in result.stderr
    sessions(root, n)
    asked = run("session", "delete", *ids, "nope:x" if n == 1 else ids[0], input="n\n")
    assert f"Delete {n} {noun}? [y/N]: " in asked.stderr


@pytest.mark.parametrize(("n", "noun"), [(1, "message"), (2, "messages")])
def test_export_counts_messages(root, tmp_path, n, noun):
    sessions(root, 1, messages=n)
    result = run("session", "export", "a:s0", "-o", str(tmp_path / "out.json"))
    assert f"✓ Exported {n} {noun}\n" in result.stderr


@pytest.mark.parametrize(("n", "noun"), [(1, "session"), (2, "sessions")])
def test_import_counts_files_and_sessions(root, tmp_path, n, noun):
    ids = sessions(root, n)
    files = []
    for number, session_id in enumerate(ids):
        files.append(str(tmp_path / f"{number}.json"))
        run("session", "export", session_id, "-o", files[-1])
        run("session", "delete", session_id, "--force")
    result = run("session", "import", *files)
    assert result.exit_code == 0, result.stderr
    assert f"→ Importing {n} {'file' if n == 1 else 'files'}\n" in result.stderr
    assert f"✓ Imported {n} {noun} (0 replaced, 0 unchanged)" in result.stderr


@pytest.mark.parametrize(("n", "noun"), [(1, "session"), (2, "sessions")])
def test_import_from_a_root_counts_sessions(root, tmp_path, n, noun):
    other = tmp_path / "other"
    sessions(other, n)
    result = run("session", "import", "--from-dir", str(other))
    assert result.exit_code == 0, result.stderr
    assert f"→ Importing {n} {noun} from" in result.stderr


@pytest.mark.parametrize(
    ("n", "sessions_noun", "messages_noun"),
    [(1, "session", "message"), (2, "sessions", "messages")],
)
def test_prune_counts_sessions_and_messages(root, n, sessions_noun, messages_noun):
    sessions(root, n)  # n sessions of one message each: n messages in all
    counts = f"{n} {sessions_noun} ({n} {messages_noun})"
    dry = run("session", "prune", "--before", "2025-01-01", "--dry-run")
    assert f"Would prune {counts}; nothing was deleted." in dry.stderr + dry.stdout
    asked = run("session", "prune", "--before", "2025-01-01", input="n\n")
    assert f"→ Pruning {counts} created before" in asked.stderr
    assert f"Prune {n} {sessions_noun}? [y/N]: " in asked.stderr
    pruned = run("session", "prune", "--before", "2025-01-01", "--force")
    assert f"✓ Pruned {counts}" in pruned.stderr


@pytest.mark.parametrize(("n", "noun"), [(1, "session"), (2, "sessions")])
def test_index_rebuild_and_verify_count_sessions(root, n, noun):
    sessions(root, n)
    files = "file" if n == 1 else "files"
    run("session", "list")
    verified = run("session", "index", "verify")
    assert verified.exit_code == 0, verified.stderr
    assert f"agrees with the {n} session {files}\n" in verified.stderr
    for number in range(n):
        (root / "a" / f"broken{number}.json").write_text("{")
    rebuilt = run("session", "index", "rebuild")
    assert rebuilt.exit_code == 0, rebuilt.stderr
    assert f"✓ Indexed {n} {noun} ({n} unreadable {files})" in rebuilt.stderr


def test_a_too_large_session_counts_its_bytes(root, monkeypatch):
    (root / "a").mkdir()
    (root / "a" / "big.json").write_text("{}")
    monkeypatch.setenv("MOFA_MAX_SESSION_BYTES", "1")
    result = run("session", "show", "a:big")
    assert result.exit_code == 3
    assert "too large: 2 bytes, more than MOFA_MAX_SESSION_BYTES (1)" in result.stderr


COUNT_BEFORE_PLURAL = re.compile(
    r"\{[^{}]*\}\)? (sessions|messages|files|session files|unreadable files|problems|indexes"
    r"|bytes|changes|handshakes|message rows)\b|%d (sessions|messages|files|changes)\b"
)


def test_no_message_puts_a_count_before_a_fixed_plural():
    """Every count a user reads goes through mofa.plurals.counted."""
    found = []
    for package in ("mofa", "indexer"):
        for path in sorted(Path(REPO, package).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if COUNT_BEFORE_PLURAL.search(line):
                    found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert found == []
