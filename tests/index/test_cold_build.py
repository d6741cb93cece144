"""A cold build writes every directory in one transaction, with the secondary indexes of
`sessions` dropped first and built again after; a failure midway leaves the index
as it was, its indexes included."""

import json
import os
import sqlite3
import time

import pytest

from indexer.build import refresh
from indexer.build.coldbuild import KEPT_WHILE_FILLING
from indexer.index.rows import IndexRow, columns
from indexer.index.session_index import SessionIndex
from mofa.errors import IndexFailed
from tests.helpers import write_jsonl, write_session


def index_sql(conn) -> set:
    return set(
        conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
            " AND tbl_name = 'sessions' AND sql IS NOT NULL"
        )
    )


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
        inserts = [
            n
            for n, text in enumerate(statements)
            if text.startswith("INSERT OR IGNORE INTO sessions")
        ]
        # Indexes by time are dropped and built after the rows; those by agent or directory are
        # kept, their entries added in runs as the rows come directory by directory.
        by_time = [(name, sql) for name, sql in before if name not in KEPT_WHILE_FILLING]
        assert len(by_time) >= 2 and len(before) - len(by_time) == len(KEPT_WHILE_FILLING)
        assert len(drops) == len(creates) == len(by_time)
        assert max(drops) < min(inserts) and max(inserts) < min(creates)
        assert index.count() == 41 and index.count("bad_files") == 1
        listed = [row.session_id for row in index.list_rows(refresh_filter(agent="agent-1"))]
        assert len(listed) == 10
        # The same rows as a build directory by directory.
        monkeypatch.setattr(refresh, "BIG_WRITE", 10**9)
        other = SessionIndex(str(many), str(tmp_path / "other.sqlite3"))
        try:
            other.refresh(None)
            query = (
                "SELECT session_id, agent, name, created_at, updated_at, message_count, status,"
                " user_id, tags, path, layout, dir, file, size FROM sessions ORDER BY session_id"
            )
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
        with pytest.raises(IndexFailed):
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


# -- the lean workers read every file as the reference parser does --------------------------

LEAN_CASES = {
    "canonical Z": b'{"created_at": "2024-02-28T10:30:00Z", "messages": []}',
    "offset zero": (
        b'{"created_at": "2024-02-28T10:30:00.5+00:00",'
        b' "updated_at": "2024-02-28T10:31:00.123456789Z"}'
    ),
    "other offset": (
        b'{"created_at": "2024-02-28T10:30:00.25+02:00", "messages": [{"role": "user"}]}'
    ),
    "lower case": b'{"created_at": "2024-02-28t10:30:00z"}',
    "space and comma": b'{"created_at": "2024-02-28 10:30:00,5Z"}',
    "ten digits": b'{"created_at": "2024-02-28T10:30:00.1234567891Z"}',
    "no offset": b'{"created_at": "2024-02-28T10:30:00.1"}',
    "no such day": (
        b'{"created_at": "2024-02-30T10:30:00Z",'
        b' "messages": [{"timestamp": "2024-03-01T00:00:00Z"}]}'
    ),
    "hour 24": b'{"created_at": "2024-02-28T24:00:00Z"}',
    "year zero": b'{"created_at": "0000-01-01T00:00:00Z"}',
    "arabic digits": '{"created_at": "٢٠٢٤-02-28T10:30:00Z"}'.encode(),
    "padded": b'{"created_at": " 2024-02-28T10:30:00Z "}',
    "not a string": b'{"created_at": 1709116200, "updated_at": null}',
    "times from messages": (
        b'{"messages": [{"role": "user", "timestamp": "2024-01-01T00:00:01.5Z"},'
        b' {"role": "assistant", "timestamp": "2024-01-01T00:00:09+01:00"}]}'
    ),
    "bad message times": b'{"messages": [{"timestamp": "yesterday"}, {"timestamp": 3}]}',
    "only mtime": b"{}",
    "status": b'{"status": "archived", "messages": [{}]}',
    "empty status": b'{"status": "", "messages": [{}]}',
    "status not text": b'{"status": 3}',
    "messages not a list": b'{"messages": {"a": 1}}',
    "messages null": b'{"messages": null}',
    "a message not an object": b'{"messages": [{}, 3]}',
    "metadata null": b'{"metadata": null}',
    "metadata a list": b'{"metadata": [1]}',
    "user text": b'{"metadata": {"user_id": "u-1"}}',
    "user number": b'{"metadata": {"user_id": 42}}',
    "user bool": b'{"metadata": {"user_id": true}}',
    "user float": b'{"metadata": {"user_id": 4.5}}',
    "user huge": b'{"metadata": {"user_id": 123456789012345678901234567890}}',
    "tags": b'{"metadata": {"tags": ["a", "b c", 3, null, "d"]}}',
    "no string tags": b'{"metadata": {"tags": [1, 2]}}',
    "tags not a list": b'{"metadata": {"tags": "a"}}',
    "tags to escape": (
        b'{"metadata": {"tags": ["say \\"hi\\"", "back\\\\slash", "tab\\there", "\\u007f"]}}'
    ),
    "unicode tags": '{"metadata": {"tags": ["caf\u00e9", "\u65e5\u672c"]}}'.encode(),
    "lone surrogate": (
        b'{"status": "\\ud800", "metadata": {"user_id": "\\udfff", "tags": ["\\ud83d"]}}'
    ),
    "NaN": b'{"messages": [{"content": NaN}], "status": "ok"}',
    "big number": b'{"messages": [{"content": 1e999}]}',
    "duplicate keys": b'{"status": "one", "status": "two"}',
    "not an object": b"[1, 2]",
    "invalid JSON": b'{"created_at": ',
    "empty file": b"",
    "not UTF-8": b'{"status": "\xff"}',
    "deeply nested": b'{"x": ' + b"[" * 100000 + b"]" * 100000 + b"}",
    "title": (
        b'{"metadata": {"title": "Trip plan"}, "messages": [{"role": "user", "content": "x"}]}'
    ),
    "empty title": b'{"metadata": {"title": ""}, "messages": [{"role": "user", "content": "x"}]}',
    "title not text": (
        b'{"metadata": {"title": 7}, "messages": [{"role": "user", "content": "Hi"}]}'
    ),
    "title null": b'{"metadata": {"title": null}}',
    "title from a later user message": (
        b'{"messages": [{"role": "assistant", "content": "Welcome"},'
        b' {"role": "user", "content": "  \\n\\n First line \\r\\nsecond"},'
        b' {"role": "user", "content": "not this"}]}'
    ),
    "user content not text": b'{"messages": [{"role": "user", "content": ["a"]}]}',
    "user content blank": b'{"messages": [{"role": "user", "content": " \\n\\t"}]}',
    "user content missing": b'{"messages": [{"role": "user"}]}',
    "role not text": b'{"messages": [{"role": ["user"], "content": "no"}]}',
    "unicode title": '{"messages": [{"role": "user", "content": "\u65e5\u672c\\u2028x"}]}'.encode(),
    "title lone surrogate": b'{"metadata": {"title": "a\\ud800b"}}',
    "content lone surrogate": b'{"messages": [{"role": "user", "content": "\\udfff"}]}',
}


NOT_RACY = 2**62  # a racy_after no file's ctime reaches


def unpack(sessions: bytes | list) -> list[tuple]:
    """The session rows of a worker's ParsedBatch, as plain tuples (packed: a serialized
    database)."""
    if type(sessions) is not bytes:
        return sessions
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("ATTACH ':memory:' AS batch")
        conn.deserialize(sessions, name="batch")
        return conn.execute(f"SELECT {columns(IndexRow)} FROM batch.rows").fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("name", list(LEAN_CASES))
def test_lean_workers_give_the_reference_parsers_row(root, name):
    from indexer.build.coldbuild import parse_batch
    from indexer.build.refresh import parse_one
    from mofa import tree

    path = root / "agent" / f"{name.replace(' ', '-')}.json"
    path.parent.mkdir()
    path.write_bytes(LEAN_CASES[name])
    os.utime(path, ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))
    scan = tree.scan_dir(str(path.parent), True, [], keep_keys=True)
    stat = tree.file_stats(scan)[0]
    reference = parse_one(str(root), "agent", stat)
    batch = parse_batch((str(root), "agent", scan.names, NOT_RACY))
    if reference.row is None:
        assert unpack(batch.sessions) == [] and [row[3] for row in batch.bad] == [reference.error]
    else:
        assert batch.bad == [] and unpack(batch.sessions) == [tuple(reference.row)]
    # The worker's stat keys add up to the digest a scan computes.
    assert tree.digest_of(scan.stat, batch.files, batch.hash_sum) == scan.digest


def test_a_file_too_large_is_left_to_the_reference_parser(root, monkeypatch):
    from indexer.build.coldbuild import parse_batch
    from mofa import tree

    path = write_session(root, "agent", "big")
    monkeypatch.setenv("MOFA_MAX_SESSION_BYTES", "10")
    scan = tree.scan_dir(str(path.parent), True, [], keep_keys=True)
    batch = parse_batch((str(root), "agent", scan.names, NOT_RACY))
    assert batch.session_count == 0 and "too large" in batch.bad[0][3]


def test_a_cold_build_gives_the_rows_of_a_refresh_file_by_file(many, tmp_path, monkeypatch):
    """Every row the bulk path writes is the row the reference parser makes of that file."""
    from indexer.build.refresh import parse_one
    from mofa import tree

    monkeypatch.setattr(refresh, "BIG_WRITE", 10)

    write_session(
        many,
        "agent-1",
        "tagged",
        metadata={"tags": ["x", 'q"uote'], "user_id": 7},
        status="closed",
        created_at="2024-02-28T10:30:00.123+01:00",
    )
    (many / "agent-2" / "flat.json").write_text('{"messages": {"not": "a list"}}')
    index = SessionIndex(str(many), str(tmp_path / "index.sqlite3"))
    try:
        index.refresh(None)
        expected_rows, expected_bad = set(), set()
        for directory, stats in tree.session_files(str(many)):
            for stat in stats:
                parsed = parse_one(str(many), directory, stat)
                if parsed.row is not None:
                    expected_rows.add(parsed.row[:-1])
                else:
                    expected_bad.add((directory, stat.name, parsed.error))
        fields = ", ".join(refresh.IndexRow._fields[:-1])
        assert set(index.conn.execute(f"SELECT {fields} FROM sessions")) == expected_rows
        assert set(index.conn.execute("SELECT dir, file, error FROM bad_files")) == expected_bad
    finally:
        index.close()


# -- index rebuild: the whole old index or the whole new one, never a part -------------------


def test_a_reader_during_a_rebuild_sees_the_whole_old_or_the_whole_new_index(root, index_path):
    import subprocess
    import threading
    import time

    from tests.helpers import BIN, run_installed

    document = json.dumps({"messages": [{"role": "user", "content": "x" * 100}] * 10})
    for agent in range(6):
        (root / f"agent-{agent}").mkdir()
        for number in range(500):
            (root / f"agent-{agent}" / f"s{number:03d}.json").write_text(document)
    assert run_installed("session", "list", "-f", "json").returncode == 0  # the old index: 3000
    for agent in range(6):  # the new one will hold 600 more, and changed rows
        for number in range(500, 600):
            (root / f"agent-{agent}" / f"s{number:03d}.json").write_text(document)
    seen, stop = [], threading.Event()

    def read():
        conn = sqlite3.connect(f"file:{index_path}?mode=ro", uri=True, timeout=60)
        try:
            while not stop.is_set():
                seen.append(
                    conn.execute(
                        "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM dirs)"
                    ).fetchone()
                )
        finally:
            conn.close()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        while not seen:
            time.sleep(0.001)
        rebuild = subprocess.run(
            [str(BIN / "mofa"), "session", "index", "rebuild"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        after = len(seen)
        deadline = time.monotonic() + 10
        while len(seen) < after + 5 and time.monotonic() < deadline:
            time.sleep(0.001)
    finally:
        stop.set()
        reader.join()
    assert rebuild.returncode == 0, rebuild.stderr
    counts = {sessions for sessions, _ in seen}
    assert counts <= {3000, 3600}, sorted(counts)
    assert seen[0][0] == 3000 and seen[-1][0] == 3600
    assert {directories for _, directories in seen} == {7}  # six agents and the root, never emptied


def _parse_now(fill, folder):
    """Every batch not yet handed to the pool parsed now, as a worker would have (its result in
    a file in `folder`, a done Future of that file's name in the batch's place)."""
    from concurrent.futures import Future

    from indexer.build.coldbuild import parse_batch

    for position, item in enumerate(fill._pending):
        if type(item) is tuple:
            done = Future()
            path = os.path.join(folder, str(position))
            done.set_result(refresh._written(path, parse_batch, (fill.root, *item)))
            fill._pending[position] = done
            fill._handed[position] = item


def test_a_directory_written_meanwhile_is_read_again_by_a_rebuild(many, tmp_path, monkeypatch):
    """A watcher (or any refresh) that writes a directory after the rebuild parsed it: the rebuild
    must not write its older rows over the newer ones."""
    from indexer.build import coldbuild

    path = str(tmp_path / "index.sqlite3")
    index = SessionIndex(str(many), path)
    try:
        index.refresh(None)
        real = coldbuild.BulkFill._locked

        def meanwhile(self, work):
            _parse_now(self, str(tmp_path))  # every file parsed as it was: then it changes
            write_session(many, "agent-1", "s01", status="changed meanwhile")
            other = SessionIndex(str(many), path)
            try:
                assert other.refresh_files("agent-1", ["s01.json"]) == 2
            finally:
                other.close()
            return real(self, work)

        monkeypatch.setattr(coldbuild.BulkFill, "_locked", meanwhile)
        index.rebuild()
        assert index.conn.execute(
            "SELECT status FROM sessions WHERE session_id = 'agent-1:s01'"
        ).fetchone() == ("changed meanwhile",)
        assert index.count() == 41
    finally:
        index.close()


def test_a_first_build_that_finds_the_index_filled_meanwhile_writes_what_differs(
    many, tmp_path, monkeypatch
):
    """Another command filled part of the index between this one's look and its write lock:
    this one reads only what differs, directory by directory, and lists everything."""
    from indexer.build import coldbuild

    monkeypatch.setattr(refresh, "BIG_WRITE", 10)
    path = str(tmp_path / "index.sqlite3")
    index = SessionIndex(str(many), path)
    try:
        real = coldbuild.BulkFill.run
        calls = []

        def meanwhile(self, directories):
            calls.append(self)
            if len(calls) == 1:
                other = SessionIndex(str(many), path)  # another command's, of one agent
                try:
                    other.refresh("agent-0")
                finally:
                    other.close()
                write_session(many, "agent-2", "s02", status="changed meanwhile")
            return real(self, directories)

        monkeypatch.setattr(coldbuild.BulkFill, "run", meanwhile)
        statements = []
        index.conn.set_trace_callback(statements.append)
        index.refresh(None)
        index.conn.set_trace_callback(None)
        assert len(calls) == 2  # the other command's first build, then this one's
        assert not any(text.startswith("DROP INDEX") for text in statements)
        assert index.conn.execute(
            "SELECT status FROM sessions WHERE session_id = 'agent-2:s02'"
        ).fetchone() == ("changed meanwhile",)
        assert index.count() == 41 and index.count("bad_files") == 1
        assert len(index_sql(index.conn)) >= 3
    finally:
        index.close()


def test_a_first_build_holds_the_write_lock_from_before_its_scan(many, tmp_path, monkeypatch):
    """So that a second command started at the same time waits, then finds the index filled,
    rather than parsing every file a second time beside the first."""
    from indexer.build import coldbuild

    monkeypatch.setattr(refresh, "BIG_WRITE", 10)
    path = str(tmp_path / "index.sqlite3")
    index = SessionIndex(str(many), path)
    try:
        real = coldbuild.BulkFill._scan
        held = []

        def scan(self, directories):
            probe = sqlite3.connect(path, timeout=0)
            try:
                probe.execute("BEGIN IMMEDIATE")
                probe.execute("ROLLBACK")
                held.append(False)
            except sqlite3.OperationalError as error:
                held.append("locked" in str(error))
            finally:
                probe.close()
            return real(self, directories)

        monkeypatch.setattr(coldbuild.BulkFill, "_scan", scan)
        index.refresh(None)
        assert held == [True] and index.count() == 41
    finally:
        index.close()


def test_with_search_data_a_refresh_inserts_without_a_query_per_row(many, tmp_path, monkeypatch):
    """The search data's triggers add rows of their own: telling an insert that skipped a
    duplicate id from one that did not must not count them (else every row is looked up)."""
    from indexer.index.search import ensure_search

    index = SessionIndex(str(many), str(tmp_path / "index.sqlite3"))
    try:
        index.refresh(None)
        ensure_search(index.conn, str(many))
        for number in range(20):
            write_session(many, "agent-1", f"later{number:02d}")
        statements = []
        index.conn.set_trace_callback(statements.append)
        index.refresh(None)
        index.conn.set_trace_callback(None)
        assert index.count() == 61
        looked_up = [text for text in statements if "FROM sessions WHERE session_id" in text]
        assert looked_up == []
    finally:
        index.close()


# -- the workers stat the files: what a row says is what was read -----------------------------


def _rows(index) -> set:
    fields = ", ".join(refresh.IndexRow._fields)
    return set(index.conn.execute(f"SELECT {fields} FROM sessions"))


def _digests(index) -> dict:
    return dict(index.conn.execute("SELECT dir, digest FROM dirs"))


def test_files_replaced_or_removed_between_the_listing_and_their_reading(
    many, tmp_path, monkeypatch
):
    """A cold build lists names first and reads the files later: a file replaced meanwhile gives
    the row of what was read, with that file's stat key; a file removed, or replaced by a
    symlink, gives none; and a later refresh has nothing stale to fix. The workers' stat keys
    add up to each directory's digest as a later scan computes it: that refresh reads nothing."""
    from mofa import tree

    monkeypatch.setattr(refresh, "BIG_WRITE", 10)
    monkeypatch.setattr(refresh, "RACY_NS", -(10**18))  # else every fresh file is read again anyway
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps({"messages": [], "status": "not here"}))
    real = tree.list_dir

    def list_dir(path, agent, skipped=None):
        listing = real(path, agent, skipped)
        if path.endswith("agent-1"):
            replacement = many / "agent-1" / "s01.json.new"
            replacement.write_text(
                json.dumps({"messages": [{"role": "user"}], "status": "replaced"})
            )
            os.replace(replacement, many / "agent-1" / "s01.json")  # a new inode
            (many / "agent-1" / "s05.json").unlink()
            (many / "agent-1" / "s09.json").unlink()
            (many / "agent-1" / "s09.json").symlink_to(elsewhere)
        return listing

    monkeypatch.setattr(tree, "list_dir", list_dir)
    index = SessionIndex(str(many), str(tmp_path / "index.sqlite3"))
    try:
        index.refresh(None)
        status, inode = index.conn.execute(
            "SELECT status, inode FROM sessions WHERE session_id = 'agent-1:s01'"
        ).fetchone()
        assert status == "replaced" and inode == os.stat(many / "agent-1" / "s01.json").st_ino
        for gone in ("agent-1:s05", "agent-1:s09"):
            assert (
                index.conn.execute(
                    "SELECT 1 FROM sessions WHERE session_id = ?", (gone,)
                ).fetchone()
                is None
            )
        assert index.count("bad_files") == 1  # broken.json, as before: no row for the symlink
        built = _rows(index)
        for directory, digest in _digests(index).items():
            scan = tree.scan_dir(str(many / directory), bool(directory), [], keep_keys=True)
            if directory == "agent-1":  # changed after its listing: the next refresh looks again
                assert digest != scan.digest
            else:
                assert digest is not None and digest == scan.digest
        monkeypatch.setattr(tree, "list_dir", real)
        read = []
        parse_one = refresh.parse_one
        monkeypatch.setattr(
            refresh, "parse_one", lambda *args: read.append(args) or parse_one(*args)
        )
        assert index.refresh(None).changed == 0 and read == []  # every row matches its file
        other = SessionIndex(str(many), str(tmp_path / "other.sqlite3"))
        try:
            other.refresh(None)
            assert _rows(other) == built == _rows(index)
        finally:
            other.close()
    finally:
        index.close()


def test_an_agent_directory_swapped_for_a_symlink_after_the_listing_is_not_read(
    many, tmp_path, monkeypatch
):
    from mofa import tree

    monkeypatch.setattr(refresh, "BIG_WRITE", 10)
    outside = tmp_path / "outside"
    outside.mkdir()
    for number in range(3):
        write_session(tmp_path, "outside", f"x{number}")
    real = tree.list_dir

    def list_dir(path, agent, skipped=None):
        listing = real(path, agent, skipped)
        if path.endswith("agent-3"):
            os.rename(path, str(tmp_path / "agent-3-moved"))
            os.symlink(outside, path)
            for name in listing[1]:  # the listed names, now found behind the symlink
                (outside / name).write_text(json.dumps({"messages": [], "status": "outside"}))
        return listing

    monkeypatch.setattr(tree, "list_dir", list_dir)
    index = SessionIndex(str(many), str(tmp_path / "index.sqlite3"))
    try:
        index.refresh(None)
        assert index.conn.execute(
            "SELECT count(*) FROM sessions WHERE status = 'outside'"
        ).fetchone() == (0,)
        assert index.conn.execute(
            "SELECT count(*) FROM sessions WHERE dir = 'agent-3'"
        ).fetchone() == (0,)
        monkeypatch.setattr(tree, "list_dir", real)
        index.refresh(None)
        assert index.conn.execute(
            "SELECT count(*) FROM sessions WHERE dir = 'agent-3'"
        ).fetchone() == (0,)
        assert index.count() == 31
    finally:
        index.close()


def _big_result(size: int) -> bytes:
    return b"x" * size


def test_the_pool_takes_no_cpu_while_its_results_wait_to_be_read(tmp_path):
    """While the workers' results wait (this process busy inserting rows), no thread of the
    pool polls for them: the CPU this process spends is its own work's."""
    from concurrent.futures import wait

    parser = refresh.FileParser(str(tmp_path))
    try:
        if parser.pool() is None:
            pytest.skip("one CPU: no pool")
        size = 1 << 20
        pending = [parser.submit(_big_result, size) for _ in range(40)]
        wait(pending, timeout=60)
        mine, everyone = time.thread_time(), time.process_time()
        busy = 0
        while time.thread_time() - mine < 0.3:  # busy, as the main process is
            busy += sum(range(10_000))
        mine, everyone = time.thread_time() - mine, time.process_time() - everyone
        assert everyone - mine < mine / 4, (mine, everyone)
        assert all(len(parser.collect(future, size, _big_result)) == size for future in pending)
    finally:
        parser.close()


def test_a_cold_build_settles_an_id_claimed_twice_as_a_build_directory_by_directory(
    many, tmp_path, monkeypatch
):
    """The workers' rows are copied into the index in bulk; where that copy skips a row (its id
    is taken), the rows go the way every refresh settles a claim (claim_rank)."""
    monkeypatch.setattr(refresh, "BIG_WRITE", 10)
    write_jsonl(many, "agent-0:s00")  # a MoFA file that claims the id of agent-0/s00.json
    settled = []
    real = refresh.Refresher._insert_sessions
    monkeypatch.setattr(
        refresh.Refresher,
        "_insert_sessions",
        lambda self, rows, bad: settled.append(len(rows)) or real(self, rows, bad),
    )
    # Every column but ctime_ns (-1 where a stat was too recent to trust: a matter of timing).
    query = f"SELECT {', '.join(refresh.IndexRow._fields[:-1])} FROM sessions ORDER BY session_id"
    bad_query = "SELECT dir, file, error, duplicate_of FROM bad_files ORDER BY dir, file"
    index = SessionIndex(str(many), str(tmp_path / "index.sqlite3"))
    other = None
    try:
        index.refresh(None)
        assert settled and index.count() == 41
        monkeypatch.setattr(refresh, "BIG_WRITE", 10**9)
        other = SessionIndex(str(many), str(tmp_path / "other.sqlite3"))
        other.refresh(None)
        assert index.conn.execute(query).fetchall() == other.conn.execute(query).fetchall()
        assert index.conn.execute(bad_query).fetchall() == other.conn.execute(bad_query).fetchall()
        assert ("", "agent-0:s00.jsonl") in [row[:2] for row in index.conn.execute(bad_query)]
    finally:
        index.close()
        if other is not None:
            other.close()
