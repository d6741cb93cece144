"""The index: its commands, its schema migrations, one index per root, and self-repair."""

import json
import os
import sqlite3
import subprocess

import pytest
from freezegun import freeze_time

from indexer.index.migrations import LATEST_VERSION, MIGRATIONS, migrate
from tests.helpers import listed_ids, message, run, run_installed, write_jsonl, write_session


@pytest.fixture
def sessions(root):
    write_session(root, "a", "s1", [message("user", "x")] * 2)
    write_session(root, "b", "s2")
    write_jsonl(root, "c:s3")
    return root


def test_index_path_is_outside_the_root_and_per_root(root, tmp_path):
    path = run("session", "index", "path").stdout.strip()
    assert path.startswith(str(tmp_path / "cache" / "mofa" / "index"))
    assert not path.startswith(str(root))
    other = run(
        "--sessions-dir", str(tmp_path / "other"), "session", "index", "path"
    ).stdout.strip()
    assert other != path
    assert run(
        "session", "index", "path", env={"MOFA_INDEX_PATH": str(tmp_path / "x.db")}
    ).stdout == (f"{tmp_path / 'x.db'}\n")


def test_sqlite3_shell_reads_the_index(sessions):
    pytest.importorskip("shutil").which("sqlite3") or pytest.skip("no sqlite3 shell")
    run("session", "list")
    path = run("session", "index", "path").stdout.strip()
    result = subprocess.run(
        ["sqlite3", path, "SELECT session_id FROM sessions ORDER BY 1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.stdout.split() == ["a:s1", "b:s2", "c:s3"]


@freeze_time("2026-11-23 12:00:00")
def test_status(sessions, index_path):
    run("session", "list")
    (sessions / "a" / "broken.json").write_text("{")
    result = run("session", "index", "status", "-f", "json")
    report = json.loads(result.stdout)
    assert report["index"] == index_path
    assert report["sessions_root"] == str(sessions)
    assert report["schema_version"] == LATEST_VERSION
    assert report["sessions_indexed"] == 3
    assert report["files_on_disk"] == 4
    assert report["last_refresh"] == "2026-11-23 12:00:00 UTC"
    assert report["index_size_bytes"] > 0
    assert report["watcher_pid"] is None
    table = run("session", "index", "status").stdout
    assert "sessions indexed:    3" in table and "watcher pid:         -" in table


def test_rebuild(sessions, index_path):
    run("session", "list")
    conn = sqlite3.connect(index_path)
    conn.execute("DELETE FROM sessions WHERE session_id = 'a:s1'")
    conn.commit()
    result = run("session", "index", "rebuild")
    assert result.exit_code == 0
    assert "✓ Indexed 3 sessions (0 unreadable files)" in result.stderr
    assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 3
    conn.close()


def test_verify_reports_missing_extra_and_stale_and_repairs(sessions, index_path):
    run("session", "list")
    assert run("session", "index", "verify").exit_code == 0
    conn = sqlite3.connect(index_path)
    conn.execute("DELETE FROM sessions WHERE session_id = 'a:s1'")
    conn.execute("UPDATE sessions SET message_count = 99 WHERE session_id = 'b:s2'")
    conn.execute(
        "INSERT INTO sessions (session_id, agent, name, created_at, message_count, status, path,"
        " dir, file) VALUES ('z:ghost', 'z', 'ghost', '2024', 0, 'empty', '/x/ghost.json', 'z', 'ghost.json')"
    )
    conn.commit()
    conn.close()
    result = run("session", "index", "verify")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert any(
        line.startswith("missing: ") and line.endswith("s1.json: not in the index")
        for line in lines
    )
    assert any(
        line.startswith("stale: ") and "message_count: index 99, file 1" in line for line in lines
    )
    assert "extra: /x/ghost.json: indexed, but no such session file" in lines
    assert (
        result.stderr == "Error: the index disagrees with the files: 1 missing, 1 extra, 1 stale\n"
    )
    repaired = run("session", "index", "verify", "--repair")
    assert repaired.exit_code == 0
    assert "✓ Repaired: 1 missing, 1 extra, 1 stale" in repaired.stderr
    assert run("session", "index", "verify").exit_code == 0


@pytest.mark.parametrize(
    "damage", ["delete", "truncate", "garbage", "unknown-version", "foreign-schema", "pages"]
)
def test_a_broken_index_is_rebuilt_by_the_next_command(sessions, index_path, damage):
    run("session", "list")
    checkpoint = sqlite3.connect(index_path)
    checkpoint.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    checkpoint.close()
    assert os.path.getsize(index_path) > 4096
    if damage == "delete":
        os.unlink(index_path)
    elif damage == "truncate":
        open(index_path, "w").close()
    elif damage == "garbage":
        with open(index_path, "wb") as handle:
            handle.write(os.urandom(8192))
    elif damage == "pages":
        with open(index_path, "r+b") as handle:  # keep the header page, scramble the rest
            size = handle.seek(0, os.SEEK_END)
            handle.seek(4096)
            handle.write(os.urandom(size - 4096))
    else:
        os.unlink(index_path)
        conn = sqlite3.connect(index_path)
        if damage == "unknown-version":
            conn.execute("PRAGMA user_version = 999")
        else:
            conn.execute("CREATE TABLE sessions (x)")
            conn.execute("PRAGMA user_version = 2")
        conn.commit()
        conn.close()
    result = run_installed("session", "list", "-f", "json")
    assert result.returncode == 0, result.stderr
    assert [r["session_id"] for r in json.loads(result.stdout)] == ["a:s1", "b:s2", "c:s3"]
    if damage not in ("delete", "truncate"):
        notes = [
            line
            for line in result.stderr.splitlines()
            if "rebuilding it from the session files" in line
        ]
        assert len(notes) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for command in (["session", "show", "a:s1", "-f", "json"], ["session", "index", "verify"]):
        assert run_installed(*command).returncode == 0


@pytest.mark.parametrize(
    "command",
    [
        ["session", "show", "s3", "-f", "json"],
        ["session", "query", "SELECT 1"],
        ["session", "index", "status"],
        ["session", "delete", "c:s3", "--force"],
    ],
)
def test_any_command_repairs_a_garbage_index(sessions, index_path, command):
    run("session", "list")
    with open(index_path, "wb") as handle:
        handle.write(b"this is not a database" * 500)
    result = run_installed(*command)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_index_directory_that_cannot_be_created(sessions, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache directory should be")
    result = run("session", "list", "-f", "json", env={"XDG_CACHE_HOME": str(blocker)})
    assert result.exit_code == 0
    assert listed_ids(result) == ["a:s1", "b:s2", "c:s3"]
    assert "answering from the session files without a saved index" in result.stderr


def test_switching_roots_never_mixes_sessions(tmp_path, monkeypatch):
    first, second = tmp_path / "one", tmp_path / "two"
    write_session(first, "a", "one")
    write_session(second, "b", "two")
    for _ in range(2):
        assert listed_ids(run("--sessions-dir", str(first), "session", "list", "-f", "json")) == [
            "a:one"
        ]
        assert listed_ids(run("--sessions-dir", str(second), "session", "list", "-f", "json")) == [
            "b:two"
        ]
    monkeypatch.setenv("MOFA_SESSIONS_DIR", str(first))
    assert listed_ids(run("session", "list", "-f", "json")) == ["a:one"]
    # One shared MOFA_INDEX_PATH: it is re-adopted by each root, never mixed.
    shared = {"MOFA_INDEX_PATH": str(tmp_path / "shared.db")}
    assert listed_ids(run("session", "list", "-f", "json", env=shared)) == ["a:one"]
    assert listed_ids(
        run("--sessions-dir", str(second), "session", "list", "-f", "json", env=shared)
    ) == ["b:two"]


def test_no_rebuild_when_switching_between_two_roots(tmp_path, monkeypatch):
    first, second = tmp_path / "one", tmp_path / "two"
    write_session(first, "a", "one")
    write_session(second, "b", "two")
    run("--sessions-dir", str(first), "session", "list")
    run("--sessions-dir", str(second), "session", "list")
    path = run("--sessions-dir", str(first), "session", "index", "path").stdout.strip()
    inode = os.stat(path).st_ino
    conn = sqlite3.connect(path)
    rowid = conn.execute("SELECT rowid FROM sessions").fetchone()
    run("--sessions-dir", str(second), "session", "list")
    run("--sessions-dir", str(first), "session", "list")
    assert os.stat(path).st_ino == inode
    assert conn.execute("SELECT rowid FROM sessions").fetchone() == rowid
    conn.close()


def test_an_index_opens_without_the_migrations_only_at_the_last_version():
    """indexer.index.database knows the last migration's version, so that a current index opens
    without importing them: the two must never drift apart."""
    from indexer.index.database import SCHEMA_VERSION

    assert SCHEMA_VERSION == LATEST_VERSION == len(MIGRATIONS)


@pytest.mark.parametrize("version", range(LATEST_VERSION))
def test_every_older_schema_migrates(tmp_path, sessions, version):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS[:version]:
        migration(conn)
    conn.execute(f"PRAGMA user_version = {version}")
    if version == 1:
        conn.execute(
            "INSERT INTO sessions VALUES ('a:s1', 'a', 's1', '2024-02-28T10:30:00Z', NULL, 2,"
            " 'active', NULL, '/x')"
        )
    assert migrate(conn) == LATEST_VERSION
    columns = {row[1] for row in conn.execute("PRAGMA table_info(sessions)")}
    assert {
        "session_id",
        "agent",
        "created_at",
        "updated_at",
        "message_count",
        "status",
        "user_id",
        "path",
        "title",
    } <= columns
    conn.close()
    result = run("session", "list", "-f", "json", env={"MOFA_INDEX_PATH": str(path)})
    assert listed_ids(result) == ["a:s1", "b:s2", "c:s3"]
    assert run("session", "index", "verify", env={"MOFA_INDEX_PATH": str(path)}).exit_code == 0


@pytest.mark.parametrize(
    "text, user_id",
    [
        (
            '{"metadata": {"user_id": 123456789012345678901234567890}, "messages": []}',
            "123456789012345678901234567890",
        ),
        ('{"metadata": {"user_id": 42}, "messages": [], "score": NaN}', "42"),
        ('{"metadata": {"user_id": "\\ud800"}, "messages": []}', "\\ud800"),
    ],
)
def test_the_fast_parser_never_changes_what_is_indexed(root, index_path, text, user_id):
    """The index parses with orjson where it can; where orjson would read a file differently
    from json (big integers, NaN, lone surrogates), json decides."""
    (root / "a").mkdir()
    (root / "a" / "s.json").write_text(text)
    run("session", "list")
    conn = sqlite3.connect(index_path)
    assert conn.execute("SELECT user_id FROM sessions").fetchone()[0] == user_id
    conn.close()
    assert run("session", "index", "verify").exit_code == 0


def test_names_that_are_not_utf8_are_left_out_with_a_warning(root):
    write_session(root, "a", "good")
    os.mkdir(os.path.join(os.fsencode(root), b"bad-\xff"))
    with open(os.path.join(os.fsencode(root), b"a", b"s-\xfe.json"), "w") as handle:
        handle.write('{"messages": []}')
    result = run("session", "list", "-f", "json")
    assert result.exit_code == 0
    assert listed_ids(result) == ["a:good"]
    assert "the file name is not valid UTF-8; left out" in result.stderr
    assert "the directory name is not valid UTF-8; left out" in result.stderr
    assert "Traceback" not in result.stderr
    assert run("session", "index", "verify").exit_code == 0  # left out by both, not "missing"
    assert json.loads(run("session", "index", "status", "-f", "json").stdout)["files_on_disk"] == 1


def test_a_root_named_through_a_symlink_shares_its_index(root, tmp_path):
    write_session(root, "a", "s")
    link = tmp_path / "link"
    link.symlink_to(root)
    run("session", "list")
    path = run("session", "index", "path").stdout.strip()
    assert run("--sessions-dir", str(link), "session", "index", "path").stdout.strip() == path
    conn = sqlite3.connect(path)
    rowid = conn.execute("SELECT rowid FROM sessions").fetchone()
    for _ in range(2):  # alternating the two names never wipes the index
        assert listed_ids(run("--sessions-dir", str(link), "session", "list", "-f", "json")) == [
            "a:s"
        ]
        assert listed_ids(run("session", "list", "-f", "json")) == ["a:s"]
    assert conn.execute("SELECT rowid FROM sessions").fetchone() == rowid
    conn.close()


def test_a_relative_index_path_is_made_absolute(root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("--index", "rel.db", "session", "index", "path").stdout == f"{tmp_path / 'rel.db'}\n"
    assert (
        run("session", "index", "path", env={"MOFA_INDEX_PATH": "rel.db"}).stdout
        == f"{tmp_path / 'rel.db'}\n"
    )


def test_grouping_by_agent_scans_the_narrow_index_and_listings_keep_theirs(sessions, index_path):
    """`GROUP BY agent` reads `sessions_agent` (m007: entries a quarter as wide), while a
    listing of one agent still walks `sessions_by_agent`, which also gives its order (were it
    to pick the narrow one, `list --agent` of a big agent would sort every row it has)."""
    run("session", "list")
    conn = sqlite3.connect(index_path)
    try:

        def plan(sql, params=()):
            return " ".join(row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))

        assert "COVERING INDEX sessions_agent" in plan(
            "SELECT agent, count(*) AS sessions FROM sessions GROUP BY agent"
        )
        listing = plan(
            "SELECT * FROM (SELECT session_id, created_at FROM sessions WHERE agent = ?"
            " ORDER BY created_at DESC, session_id DESC LIMIT 10)"
            " ORDER BY created_at, session_id",
            ("a",),
        )
        assert "INDEX sessions_by_agent (agent=?)" in listing
        assert "sessions_agent " not in listing
    finally:
        conn.close()
    assert json.loads(
        run(
            "session",
            "query",
            "SELECT agent, count(*) AS n FROM sessions GROUP BY agent",
            "-f",
            "json",
        ).stdout
    ) == [{"agent": "a", "n": 1}, {"agent": "b", "n": 1}, {"agent": "c", "n": 1}]
