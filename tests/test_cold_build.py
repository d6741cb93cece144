"""A cold build writes every directory in one transaction, with the secondary indexes of
`sessions` dropped first and built again after (issue 16); a failure midway leaves the index
as it was, its indexes included."""

import sqlite3

import pytest

from indexer import refresh
from indexer.index import SessionIndex
from tests.helpers import write_jsonl, write_session


def index_sql(conn) -> set:
    return set(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                            " AND tbl_name = 'sessions' AND sql IS NOT NULL"))


@pytest.fixture
def many(root):
    for number in range(40):
        write_session(root, f"agent-{number % 4}", f"s{number:02d}")
    write_jsonl(root, "mofa:one")
    (root / "agent-0" / "broken.json").write_text("{")
    return root


def test_a_cold_build_loads_first_and_indexes_after(many, tmp_path, monkeypatch):
    monkeypatch.setattr(refresh, "BIG_WRITE", 10)
    index = SessionIndex(str(many), str(tmp_path / "index.sqlite3"))
    try:
        before = index_sql(index.conn)
        statements = []
        index.conn.set_trace_callback(statements.append)
        index.refresh(None)
        index.conn.set_trace_callback(None)
        assert index_sql(index.conn) == before and len(before) >= 3
        assert sum(text.startswith("BEGIN") for text in statements) == 1
        drops = [n for n, text in enumerate(statements) if text.startswith("DROP INDEX")]
        creates = [n for n, text in enumerate(statements) if text.startswith("CREATE INDEX")]
        inserts = [n for n, text in enumerate(statements) if text.startswith("INSERT OR IGNORE INTO sessions")]
        assert len(drops) == len(creates) == len(before)
        assert max(drops) < min(inserts) and max(inserts) < min(creates)
        assert index.count() == 41 and index.count("bad_files") == 1
        listed = [row.session_id for row in index.list_rows(refresh_filter(agent="agent-1"))]
        assert len(listed) == 10
        # The same rows as a build directory by directory.
        monkeypatch.setattr(refresh, "BIG_WRITE", 10**9)
        other = SessionIndex(str(many), str(tmp_path / "other.sqlite3"))
        try:
            other.refresh(None)
            query = ("SELECT session_id, agent, name, created_at, updated_at, message_count, status,"
                     " user_id, tags, path, layout, dir, file, size FROM sessions ORDER BY session_id")
            assert other.conn.execute(query).fetchall() == index.conn.execute(query).fetchall()
        finally:
            other.close()
    finally:
        index.close()


def test_a_cold_build_that_fails_midway_leaves_the_index_as_it_was(many, tmp_path, monkeypatch):
    monkeypatch.setattr(refresh, "BIG_WRITE", 10)
    index = SessionIndex(str(many), str(tmp_path / "index.sqlite3"))
    try:
        before = index_sql(index.conn)
        real = refresh.Refresher._wrote_dir
        calls = []

        def failing(self, directory, *args):
            calls.append(directory)
            if len(calls) == 3:
                raise sqlite3.OperationalError("disk I/O error")
            return real(self, directory, *args)

        monkeypatch.setattr(refresh.Refresher, "_wrote_dir", failing)
        with pytest.raises(Exception):
            index.refresh(None)
        assert index_sql(index.conn) == before
        assert index.count() == 0 and not index.conn.in_transaction
        monkeypatch.setattr(refresh.Refresher, "_wrote_dir", real)
        index.refresh(None)
        assert index.count() == 41 and index_sql(index.conn) == before
    finally:
        index.close()


def refresh_filter(**fields):
    from mofa.stores.base import SessionFilter

    return SessionFilter(**fields)


def test_search_keeps_working_after_a_cold_rebuild(many, monkeypatch):
    from tests.helpers import message, run

    monkeypatch.setattr(refresh, "BIG_WRITE", 10)
    write_session(many, "agent-2", "needle", messages=[message("user", "a zebra crossing")])
    first = run("session", "search", "zebra", "--output-format", "json")
    assert first.exit_code == 0 and "agent-2:needle" in first.stdout
    assert run("session", "index", "rebuild").exit_code == 0  # a cold build, search data kept
    write_session(many, "agent-3", "later", messages=[message("user", "another zebra")])
    again = run("session", "search", "zebra", "--output-format", "json")
    assert again.exit_code == 0
    assert "agent-2:needle" in again.stdout and "agent-3:later" in again.stdout
