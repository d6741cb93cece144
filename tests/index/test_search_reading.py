"""The search data read by parallel processes is the very data read in one: the same blocks,
rows, digests and FTS5 index, and the same hits; a reader killed midway loses nothing."""

from __future__ import annotations

import os
import signal
import sqlite3

import pytest

from indexer.build.refresh import FileParser
from indexer.index import search as search_module
from indexer.index.search import SearchFilter, ensure_search, search_page
from indexer.index.session_index import SessionIndex
from tests.helpers import message, write_jsonl, write_session

WORDS = "alpha beta gamma delta épée ﬁne Straße".split()


@pytest.fixture
def small_tasks(monkeypatch):
    """Readers for a tree of a few dozen sessions, in tasks of a few."""
    monkeypatch.setattr(search_module, "PARALLEL_READS", 10)
    monkeypatch.setattr(search_module, "READ_TASK", 4)


def messages_of(number: int) -> list[dict]:
    return [
        message(
            ["user", "assistant", "tool"][place % 3],
            " ".join(WORDS[(number + place + turn) % len(WORDS)] for turn in range(3)),
            f"2024-03-{1 + place % 28:02d}T10:{number % 60:02d}:00.{place:03d}Z",
        )
        for place in range(number % 37)
    ]


def grow(root) -> None:
    for number in range(40):
        write_session(root, f"agent-{number % 3}", f"s{number}", messages_of(number))
    write_jsonl(root, "k:1", [message("user", "alpha from the jsonl layout")])


def contents(conn: sqlite3.Connection) -> dict[str, list]:
    return {
        table: conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
        for table in ("search_sessions", "search_blocks", "search_rows", "search_roles")
    } | {
        "fts": conn.execute(
            "SELECT rowid FROM search_messages WHERE search_messages MATCH 'alpha OR epee OR fine'"
            " ORDER BY rowid"
        ).fetchall()
    }


def built(root, path, readers) -> SessionIndex:
    index = SessionIndex(str(root), str(path))
    index.refresh()
    try:
        assert ensure_search(index.conn, index.root, readers=readers) == 41
    finally:
        if readers is not None:
            readers.close()
    return index


def test_readers_make_the_search_data_of_one_process(root, tmp_path, small_tasks):
    grow(root)
    alone = built(root, tmp_path / "alone.db", None)
    parallel = built(root, tmp_path / "parallel.db", FileParser(str(root)))
    try:
        assert contents(parallel.conn) == contents(alone.conn)
        for query in ("alpha", '"beta gamma"', "str*", "epee -delta", "fine OR gamma"):
            wanted = SearchFilter(limit=None)
            assert search_page(parallel.conn, query, wanted) == search_page(
                alone.conn, query, wanted
            )
    finally:
        alone.close()
        parallel.close()


def children(pid: int) -> list[int]:
    found = []
    for thread in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{thread}/children") as handle:
                found += [int(child) for child in handle.read().split()]
        except OSError:  # a thread (or process) that ended meanwhile
            continue
    return found


def workers(pid: int) -> list[int]:
    """The pool's workers under `pid`: its children, or its fork server's, but multiprocessing's
    resource tracker."""
    found = []
    for child in children(pid):
        try:
            with open(f"/proc/{child}/cmdline", "rb") as handle:
                command = handle.read()
        except OSError:  # ended meanwhile
            continue
        if b"forkserver" in command:
            found += workers(child)
        elif b"resource_tracker" not in command:
            found.append(child)
    return found


def test_readers_bring_grown_and_rewritten_sessions_in_line_as_one_process_does(
    root, tmp_path, small_tasks, settled
):
    """A catch-up of sessions that grew (their new messages in their last block, then new
    ones) and of sessions rewritten (retired, indexed anew), read by the readers or here."""
    grow(root)
    alone = built(root, tmp_path / "alone.db", None)
    parallel = built(root, tmp_path / "parallel.db", FileParser(str(root)))
    try:
        keys = dict(alone.conn.execute("SELECT session_id, id FROM search_sessions"))
        grown = [f"agent-{number % 3}:s{number}" for number in range(2, 40, 2)]
        for number in range(2, 40, 2):
            extra = [message("assistant", "gamma grown", "2024-04-01T10:00:00Z")] * 20
            write_session(root, f"agent-{number % 3}", f"s{number}", messages_of(number) + extra)
        for number in range(1, 40, 4):  # rewritten
            write_session(root, f"agent-{number % 3}", f"s{number}", [message("tool", "ﬁne")])
        for index in (alone, parallel):
            index.refresh()
        assert ensure_search(alone.conn, alone.root) == 29
        with FileParser(str(root)) as readers:
            assert ensure_search(parallel.conn, parallel.root, readers=readers) == 29
        assert contents(parallel.conn) == contents(alone.conn)
        kept = dict(alone.conn.execute("SELECT session_id, id FROM search_sessions"))
        assert [kept[session] for session in grown] == [keys[session] for session in grown]
    finally:
        alone.close()
        parallel.close()


class KillingReaders(FileParser):
    """Readers one of whose processes is killed (kill -9, as the OOM killer would) once the
    first task is handed over."""

    killed = False

    def submit(self, parse, batch):
        future = super().submit(parse, batch)
        running = workers(os.getpid())
        if not self.killed and running:
            self.killed = True
            os.kill(running[0], signal.SIGKILL)
        return future


def test_a_reader_killed_midway_loses_no_session(root, tmp_path, small_tasks):
    grow(root)
    alone = built(root, tmp_path / "alone.db", None)
    readers = KillingReaders(str(root))
    killed = built(root, tmp_path / "killed.db", readers)
    try:
        assert readers.killed
        assert contents(killed.conn) == contents(alone.conn)
    finally:
        alone.close()
        killed.close()
