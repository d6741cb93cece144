"""`prune --archive DIR` and `import DIR`: every pruned session is in the archive, byte-exact,
under a name no other id shares; nothing is written outside DIR or into the root."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.helpers import listed_ids, message, run, run_installed, write_jsonl, write_session

BEFORE = "2025-01-01"


def exported(session_id: str) -> bytes:
    result = run("session", "export", session_id, "-o", "-", "-f", "json")
    assert result.exit_code == 0, result.stderr
    return result.stdout_bytes


def manifest(archive: Path) -> list[dict]:
    return [json.loads(line) for line in (archive / "manifest.jsonl").read_text().splitlines()]


def tree_of(directory: Path) -> dict[str, bytes]:
    """Every file under `directory` (symlinks as their target text), for before/after checks."""
    found = {}
    for path in sorted(directory.rglob("*")):
        if path.is_symlink():
            found[str(path)] = os.readlink(path).encode()
        elif path.is_file():
            found[str(path)] = path.read_bytes()
    return found


@pytest.fixture
def lookalikes(root):
    """Five sessions whose archive names a careless rule would make one: `agent.1` and
    `agent_1`; and, for one agent `bot`, keys `telegram:chat-1`, `slack:chat-1` and the
    per-agent `bot:chat-1`."""
    write_session(root, "agent.1", "s", created_at="2024-01-01T00:00:00Z")
    write_session(root, "agent_1", "s", created_at="2024-01-02T00:00:00Z")
    write_session(root, "bot", "chat-1", created_at="2024-01-03T00:00:00Z")
    for key in ("telegram:chat-1", "slack:chat-1"):
        write_jsonl(
            root,
            key,
            [message("user", f"hello from {key}", "2024-01-04T00:00:05Z")],
            metadata={"agent_id": "bot"},
            created_at="2024-01-04T00:00:00+00:00",
        )
    ids = ["agent.1:s", "agent_1:s", "bot:chat-1", "telegram:chat-1", "slack:chat-1"]
    return {session_id: exported(session_id) for session_id in ids}


def test_sessions_whose_names_would_coincide_get_archive_files_of_their_own(lookalikes, tmp_path):
    archive = tmp_path / "archive"
    result = run("session", "prune", "--before", BEFORE, "--archive", str(archive), "--force")
    assert result.exit_code == 0, result.stderr
    assert "✓ Pruned 5 sessions (5 messages)" in result.stderr
    assert listed_ids(run("session", "list", "-f", "json")) == []
    entries = manifest(archive)
    assert sorted(entry["id"] for entry in entries) == sorted(lookalikes)
    assert len({entry["file"] for entry in entries}) == 5
    for entry in entries:
        data = (archive / entry["file"]).read_bytes()
        assert data == lookalikes[entry["id"]]  # the exact `export -f json` bytes
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["exported_at"].endswith("Z")
    files = {entry["id"]: entry["file"] for entry in entries}
    assert files["agent.1:s"] == "agent.1/s.json" and files["agent_1:s"] == "agent_1/s.json"
    assert files["bot:chat-1"] == "bot/chat-1.json"


def test_a_key_reused_for_a_new_chat_gets_a_new_archive_file_beside_the_old(root, tmp_path):
    archive = tmp_path / "archive"
    first = write_jsonl(
        root, "telegram:chat-1", [message("user", "first chat", "2024-01-01T00:00:05Z")]
    )
    before = exported("telegram:chat-1")
    assert (
        run("session", "prune", "--before", BEFORE, "--archive", str(archive), "--force").exit_code
        == 0
    )
    assert not first.exists()
    write_jsonl(root, "telegram:chat-1", [message("user", "second chat", "2024-02-01T00:00:05Z")])
    after = exported("telegram:chat-1")
    result = run("session", "prune", "--before", BEFORE, "--archive", str(archive), "--force")
    assert result.exit_code == 0, result.stderr
    entries = manifest(archive)
    assert [entry["id"] for entry in entries] == ["telegram:chat-1"] * 2
    assert entries[0]["file"] != entries[1]["file"]
    assert [(archive / entry["file"]).read_bytes() for entry in entries] == [before, after]


def test_an_agent_directory_symlinked_into_the_root_is_refused_before_anything(root, tmp_path):
    keep = write_session(root, "keep", "s", created_at="2030-01-01T00:00:00Z")
    write_session(root, "old", "s", created_at="2024-01-01T00:00:00Z")
    write_session(root, "other", "s", created_at="2024-01-01T00:00:00Z")
    before = tree_of(root)
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "old").symlink_to(root / "keep")
    result = run("session", "prune", "--before", BEFORE, "--archive", str(archive), "--force")
    assert result.exit_code == 2
    assert "sessions root" in result.stderr
    assert tree_of(root) == before and keep.exists()
    assert sorted(os.listdir(archive)) == ["old"]


def test_an_agent_directory_symlinked_elsewhere_is_never_followed(root, tmp_path):
    old = write_session(root, "old", "s", created_at="2024-01-01T00:00:00Z")
    write_session(root, "other", "s", created_at="2024-01-01T00:00:00Z")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "old").symlink_to(elsewhere)
    result = run("session", "prune", "--before", BEFORE, "--archive", str(archive), "--force")
    assert result.exit_code == 3
    assert "symlink" in result.stderr and "(old:s kept)" in result.stderr
    assert "✓ Pruned 1 session (1 message)" in result.stderr
    assert old.exists() and os.listdir(elsewhere) == []


def test_a_file_symlinked_into_the_root_is_never_written_through(root, tmp_path):
    keep = write_session(root, "keep", "s", created_at="2030-01-01T00:00:00Z")
    write_session(root, "old", "s", created_at="2024-01-01T00:00:00Z")
    kept_bytes = keep.read_bytes()
    old_export = exported("old:s")
    archive = tmp_path / "archive"
    (archive / "old").mkdir(parents=True)
    (archive / "old" / "s.json").symlink_to(keep)
    result = run("session", "prune", "--before", BEFORE, "--archive", str(archive), "--force")
    assert result.exit_code == 0, result.stderr
    assert keep.read_bytes() == kept_bytes
    assert os.readlink(archive / "old" / "s.json") == str(keep)
    [entry] = manifest(archive)
    assert (archive / entry["file"]).read_bytes() == old_export


def test_an_archive_in_the_roots_parent_never_writes_into_the_root(root, tmp_path):
    # the agent named like the root would be archived to <parent>/<root's name>: the root
    write_session(root, root.name, "s", created_at="2024-01-01T00:00:00Z")
    write_session(root, "other", "t", created_at="2024-01-01T00:00:00Z")
    before = tree_of(root)
    result = run("session", "prune", "--before", BEFORE, "--archive", str(root.parent), "--force")
    assert result.exit_code == 2
    assert "sessions root" in result.stderr and "Traceback" not in result.stderr
    assert tree_of(root) == before
    assert not (root.parent / "other").exists() and not (root.parent / "manifest.jsonl").exists()


def test_an_archive_reached_through_a_symlink_to_the_root_is_refused(root, tmp_path):
    write_session(root, "a", "s", created_at="2024-01-01T00:00:00Z")
    before = tree_of(root)
    (tmp_path / "link").symlink_to(root)
    result = run(
        "session", "prune", "--before", BEFORE, "--archive", str(tmp_path / "link"), "--force"
    )
    assert result.exit_code == 2
    assert tree_of(root) == before


def test_a_session_written_to_while_it_is_archived_is_kept_and_reported(
    root, tmp_path, monkeypatch
):
    path = write_jsonl(root, "telegram:chat-1", [message("user", "one", "2024-01-01T00:00:05Z")])
    write_session(root, "a", "quiet", created_at="2024-01-01T00:00:00Z")
    before = exported("telegram:chat-1")
    appended = '\n{"role":"assistant","content":"two","timestamp":"2024-01-01T00:00:06Z"}'

    import mofa.documents

    real = mofa.documents.export_document

    def export_while_the_agent_writes(session):
        document = real(session)
        if session.session_id == "telegram:chat-1":  # the agent appends as it is archived
            with open(path, "a") as handle:
                handle.write(appended)
        return document

    monkeypatch.setattr(mofa.documents, "export_document", export_while_the_agent_writes)
    archive = tmp_path / "archive"
    result = run("session", "prune", "--before", BEFORE, "--archive", str(archive), "--force")
    assert result.exit_code == 3
    assert "telegram:chat-1 was written to since it was read" in result.stderr
    assert "✓ Pruned 1 session (1 message)" in result.stderr
    assert path.read_text().endswith(appended)  # the new message is still in the root
    assert {entry["id"]: (archive / entry["file"]).read_bytes() for entry in manifest(archive)}[
        "telegram:chat-1"
    ] == before
    assert listed_ids(run("session", "list", "-f", "json")) == ["telegram:chat-1"]


def test_a_dry_run_prints_where_each_would_be_archived_and_writes_nothing(lookalikes, tmp_path):
    archive = tmp_path / "archive"
    result = run("session", "prune", "--before", BEFORE, "--archive", str(archive), "--dry-run")
    assert result.exit_code == 0, result.stderr
    lines = dict(line.split(" → ") for line in result.stdout.splitlines())
    assert lines["agent.1:s"] == str(archive / "agent.1" / "s.json")
    assert lines["agent_1:s"] == str(archive / "agent_1" / "s.json")
    assert len(set(lines.values())) == 5
    assert not archive.exists()
    assert len(listed_ids(run("session", "list", "-f", "json"))) == 5


@pytest.fixture
def tmpfs_root(monkeypatch):
    """A root on tmpfs, which keeps an absurd mtime as set (ext4 clamps it)."""
    if not os.path.isdir("/dev/shm"):
        pytest.skip("no tmpfs at /dev/shm")
    place = tempfile.mkdtemp(dir="/dev/shm", prefix="mofa-test-")
    root = Path(place) / "sessions"
    root.mkdir()
    monkeypatch.setenv("MOFA_SESSIONS_DIR", str(root))
    yield root
    shutil.rmtree(place, ignore_errors=True)


@pytest.mark.parametrize("mtime_ns", [-70_000_000_000 * 10**9, 300_000_000_000 * 10**9])
def test_a_session_of_unknown_age_is_never_pruned(tmpfs_root, mtime_ns):
    from mofa.timestamps import from_epoch_ns

    unknown = write_session(tmpfs_root, "a", "unknown", messages=[], created_at=None)
    write_session(tmpfs_root, "a", "old", created_at="2024-01-01T00:00:00Z")
    os.utime(unknown, ns=(0, mtime_ns))
    if from_epoch_ns(os.stat(unknown).st_mtime_ns) is not None:
        pytest.skip("this file system clamps the times")
    dry = run("session", "prune", "--before", "9999-01-01", "--dry-run")
    assert dry.stdout == "a:old\n"
    result = run("session", "prune", "--before", "9999-01-01", "--force")
    assert result.exit_code == 0, result.stderr
    assert "✓ Pruned 1 session (1 message)" in result.stderr
    assert unknown.exists()


# -- import DIR ------------------------------------------------------------------------------
def test_import_restores_an_archive_through_its_manifest(lookalikes, tmp_path):
    archive = tmp_path / "archive"
    assert (
        run("session", "prune", "--before", BEFORE, "--archive", str(archive), "--force").exit_code
        == 0
    )
    result = run_installed("session", "import", str(archive))
    assert result.returncode == 0, result.stderr
    assert "✓ Imported 5 sessions (0 replaced, 0 unchanged)" in result.stderr
    assert {session_id: exported(session_id) for session_id in lookalikes} == lookalikes
    again = run_installed("session", "import", str(archive))
    assert again.returncode == 0, again.stderr
    assert "✓ Imported 0 sessions (0 replaced, 5 unchanged)" in again.stderr


def test_import_refuses_an_archived_file_whose_sha256_differs(root, tmp_path):
    write_session(root, "a", "s", created_at="2024-01-01T00:00:00Z")
    write_session(root, "a", "t", created_at="2024-01-01T00:00:00Z")
    archive = tmp_path / "archive"
    assert (
        run("session", "prune", "--before", BEFORE, "--archive", str(archive), "--force").exit_code
        == 0
    )
    tampered = archive / "a" / "s.json"
    tampered.write_text(tampered.read_text().replace("Hello", "Hullo"))
    result = run("session", "import", str(archive))
    assert result.exit_code == 3
    assert "SHA-256" in result.stderr and "Traceback" not in result.stderr
    assert listed_ids(run("session", "list", "-f", "json")) == ["a:t"]


def test_import_never_follows_a_symlink_named_by_an_archive(root, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    secret = b'{"session_id": "x:y", "messages": []}\n'
    (elsewhere / "y.json").write_bytes(secret)
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "x").symlink_to(elsewhere)
    line = {
        "id": "x:y",
        "file": "x/y.json",
        "sha256": hashlib.sha256(secret).hexdigest(),
        "exported_at": "2024-01-01T00:00:00Z",
    }
    (archive / "manifest.jsonl").write_text(json.dumps(line) + "\n")
    result = run("session", "import", str(archive))
    assert result.exit_code == 2
    assert "symlink" in result.stderr
    assert listed_ids(run("session", "list", "-f", "json")) == []


def test_import_of_a_directory_without_a_manifest_is_one_error_line(tmp_path):
    (tmp_path / "not-an-archive").mkdir()
    result = run("session", "import", str(tmp_path / "not-an-archive"))
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: ") and "manifest.jsonl" in result.stderr


def test_an_agent_named_like_the_manifest_is_archived_beside_it(root, tmp_path):
    write_session(root, "manifest.jsonl", "s", created_at="2024-01-01T00:00:00Z")
    write_session(root, "other", "s", created_at="2024-01-02T00:00:00Z")
    sessions = {session_id: exported(session_id) for session_id in ("manifest.jsonl:s", "other:s")}
    archive = tmp_path / "archive"
    result = run("session", "prune", "--before", BEFORE, "--archive", str(archive), "--force")
    assert result.exit_code == 0, result.stderr
    assert (archive / "manifest.jsonl").is_file()
    entries = manifest(archive)
    assert {entry["id"]: (archive / entry["file"]).read_bytes() for entry in entries} == sessions
    restored = run_installed("session", "import", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert {session_id: exported(session_id) for session_id in sessions} == sessions
