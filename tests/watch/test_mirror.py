"""mofa-indexd --sync-to: real watchers (subprocesses) mirroring real roots into a real
PostgreSQL server; the database must end equal to the union of the roots every time."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.daemon_helpers import RunningDaemon
from tests.helpers import message, run, write_session

pytest.importorskip("psycopg")


def expected(roots: dict[str, Path]) -> dict[tuple[str, str], str]:
    """(origin, id) -> content hash of every session of every root, read with the files store."""
    from mofa.documents import export_document
    from mofa.stores.files import FileSessionStore
    from mofa.stores.postgres import records

    found = {}
    for origin, root in roots.items():
        store = FileSessionStore(str(root))
        for row in store.list():
            session = store.load(store.resolve(row.session_id))
            record, _ = records.prepared(
                row.session_id, export_document(session), session.file_mtime_ns
            )
            found[(origin, row.session_id)] = record.content_hash
    return found


def in_database(url: str) -> dict[tuple[str, str], str]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        if not conn.execute("SELECT to_regclass('mofa_sessions') IS NOT NULL").fetchone()[0]:
            return {}
        rows = conn.execute("SELECT origin, session_id, content_hash FROM mofa_sessions").fetchall()
        # Every session's message rows are all there (a half-sent session would show here).
        broken = conn.execute(
            "SELECT count(*) FROM mofa_sessions s WHERE message_count <>"
            " (SELECT count(*) FROM mofa_messages m WHERE m.origin = s.origin"
            "  AND m.session_id = s.session_id)"
        ).fetchone()[0]
    assert broken == 0
    return {(origin, session_id): digest for origin, session_id, digest in rows}


def wait_equal(url: str, roots: dict[str, Path], timeout: float = 90.0) -> None:
    want = expected(roots)
    deadline = time.monotonic() + timeout
    have = None
    while time.monotonic() < deadline:
        try:
            have = in_database(url)
        except Exception as error:  # noqa: BLE001 (the server may be restarting)
            have = error
        if have == want:
            return
        time.sleep(0.1)
    if isinstance(have, dict):
        missing = sorted(set(want) - set(have))[:5]
        extra = sorted(set(have) - set(want))[:5]
        stale = sorted(k for k in want if k in have and have[k] != want[k])[:5]
        raise AssertionError(
            f"database never equal to the roots: missing {missing}, extra {extra},"
            f" stale {stale} ({len(have)} rows, {len(want)} wanted)"
        )
    raise AssertionError(f"database never equal to the roots: {have!r}")


def start_watcher(tmp_path: Path, root: Path, url: str, origin: str) -> RunningDaemon:
    root.mkdir(exist_ok=True)
    return RunningDaemon(
        root, tmp_path / f"index-{origin}.db", ["--sync-to", url, "--origin", origin]
    )


def stop_all(daemons) -> None:
    for daemon in daemons:
        try:
            daemon.stop(timeout=15)
        except subprocess.TimeoutExpired:
            daemon.process.kill()
            daemon.process.wait(timeout=15)


def write_many(root: Path, agent: str, count: int, start: int = 0) -> None:
    for number in range(start, start + count):
        write_session(root, agent, f"s{number:05d}", [message("user", f"hello {number}")])


@pytest.fixture
def hosts(tmp_path, pg_url):
    roots = {"hostA": tmp_path / "a", "hostB": tmp_path / "b"}
    daemons = []
    try:
        for origin, root in roots.items():
            daemons.append(start_watcher(tmp_path, root, pg_url, origin))
        for daemon in daemons:
            daemon.wait_for_log("watching")
            # Its origin is registered by the mirror's first pass, a moment after "watching":
            # a test asserting on origins must not race it (seen failing under load).
            daemon.wait_for_log("reconciled with")
        yield roots, daemons
    finally:
        stop_all(daemons)


def test_two_hosts_mirror_writes_deletes_and_a_burst(hosts, pg_url):
    roots, _ = hosts
    write_session(roots["hostA"], "agent-a", "one", [message("user", "from a")])
    write_session(roots["hostB"], "agent-b", "two", [message("user", "from b")])
    wait_equal(pg_url, roots)
    # A change in place and a deletion.
    write_session(
        roots["hostA"],
        "agent-a",
        "one",
        [message("user", "from a"), message("assistant", "changed")],
    )
    (roots["hostB"] / "agent-b" / "two.json").unlink()
    wait_equal(pg_url, roots)
    write_many(roots["hostA"], "burst", 2000)
    wait_equal(pg_url, roots)
    assert len(in_database(pg_url)) == 2001


def test_the_same_id_on_two_hosts_is_two_sessions(hosts, pg_url, tmp_path):
    roots, _ = hosts
    write_session(roots["hostA"], "agent", "same", [message("user", "said on A")])
    write_session(
        roots["hostB"],
        "agent",
        "same",
        [message("user", "said on B"), message("assistant", "twice")],
    )
    wait_equal(pg_url, roots)
    listed = run("--store", pg_url, "session", "list", "--output-format", "json")
    assert listed.exit_code == 0, listed.output
    assert sorted((row["session_id"], row["origin"]) for row in json.loads(listed.stdout)) == [
        ("agent:same", "hostA"),
        ("agent:same", "hostB"),
    ]
    table = run("--store", pg_url, "session", "list")
    assert "origin" in table.stdout and "hostB" in table.stdout
    ambiguous = run("--store", pg_url, "session", "show", "agent:same")
    assert ambiguous.exit_code == 1
    assert "--origin hostA" in ambiguous.stderr and "--origin hostB" in ambiguous.stderr
    shown = run(
        "--store", pg_url, "session", "show", "agent:same", "--origin", "hostB", "--format", "json"
    )
    assert shown.exit_code == 0, shown.output
    assert [m["content"] for m in json.loads(shown.stdout)["messages"]] == ["said on B", "twice"]
    out = tmp_path / "a.json"
    exported = run(
        "--store", pg_url, "session", "export", "same", "--origin", "hostA", "-o", str(out)
    )
    assert exported.exit_code == 0, exported.output
    assert [m["content"] for m in json.loads(out.read_text())["messages"]] == ["said on A"]
    # The database never changes a host's files: deleting there is refused, naming the origin.
    refused = run(
        "--store", pg_url, "session", "delete", "agent:same", "--origin", "hostA", "--force"
    )
    assert refused.exit_code == 2
    assert "hostA" in refused.stderr
    assert (roots["hostA"] / "agent" / "same.json").exists()
    assert len(in_database(pg_url)) == 2


def test_one_origin_shows_no_origin_field(hosts, pg_url):
    roots, _ = hosts
    write_session(roots["hostA"], "agent", "only", [message("user", "x")])
    wait_equal(pg_url, roots)
    listed = run("--store", pg_url, "session", "list", "--output-format", "json")
    assert [sorted(row) for row in json.loads(listed.stdout)] == [
        ["created_at", "message_count", "session_id", "status"]
    ]
    status = run("--store", pg_url, "session", "index", "status", "-f", "json")
    origins = json.loads(status.stdout)["origins"]
    assert [(o["origin"], o["sessions"]) for o in origins] == [("hostA", 1), ("hostB", 0)]


def test_a_watcher_killed_and_restarted_while_files_change_catches_up(tmp_path, pg_url):
    roots = {"hostA": tmp_path / "a"}
    daemons = []
    try:
        daemons.append(start_watcher(tmp_path, roots["hostA"], pg_url, "hostA"))
        write_many(roots["hostA"], "agent", 300)
        wait_equal(pg_url, roots)
        daemons[0].process.send_signal(signal.SIGKILL)
        daemons[0].process.wait(timeout=15)
        # While nobody watches: new, changed and deleted sessions.
        write_many(roots["hostA"], "agent", 100, start=300)
        write_session(roots["hostA"], "agent", "s00000", [message("user", "rewritten")])
        for number in range(1, 51):
            (roots["hostA"] / "agent" / f"s{number:05d}.json").unlink()
        daemons.append(start_watcher(tmp_path, roots["hostA"], pg_url, "hostA"))
        write_many(roots["hostA"], "agent", 100, start=400)  # and while it starts again
        wait_equal(pg_url, roots)
    finally:
        stop_all(daemons)


def test_a_restart_sends_only_what_changed(tmp_path, pg_url):
    roots = {"hostA": tmp_path / "a"}
    daemons = []
    try:
        daemons.append(start_watcher(tmp_path, roots["hostA"], pg_url, "hostA"))
        write_many(roots["hostA"], "agent", 200)
        wait_equal(pg_url, roots)
        stop_all(daemons)
        write_session(roots["hostA"], "agent", "s00007", [message("user", "changed")])
        (roots["hostA"] / "agent" / "s00008.json").unlink()
        daemons.append(start_watcher(tmp_path, roots["hostA"], pg_url, "hostA"))
        line = daemons[-1].wait_for_log("reconciled with")
        assert "1 session sent, 1 deleted, 198 unchanged" in line
        wait_equal(pg_url, roots)
    finally:
        stop_all(daemons)


def _restart_options(cluster) -> str:
    # As tests/pg.py's Cluster.start starts it.
    return (
        f"-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        f" -c listen_addresses='' -c unix_socket_directories='{cluster.directory}'"
        f" -c max_connections=200"
    )


def test_the_server_stopped_and_started_mid_burst(tmp_path):
    from tests.pg import start_cluster

    try:
        cluster, url = start_cluster()
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        pytest.skip(f"no PostgreSQL server: {error}")
    roots = {"hostA": tmp_path / "a", "hostB": tmp_path / "b"}
    daemons = []
    try:
        for origin, root in roots.items():
            daemons.append(start_watcher(tmp_path, root, url, origin))
        write_many(roots["hostA"], "agent", 200)
        write_many(roots["hostB"], "agent", 200)
        wait_equal(url, roots)
        write_many(roots["hostA"], "burst", 500)
        stopped = cluster._run("pg_ctl", "-D", cluster.data, "-m", "fast", "-w", "stop")
        assert stopped.returncode == 0, stopped.stderr
        write_many(roots["hostA"], "burst", 500, start=500)
        write_many(roots["hostB"], "burst", 300)
        for number in range(20):
            (roots["hostB"] / "agent" / f"s{number:05d}.json").unlink()
        for daemon in daemons:
            daemon.wait_for_log("retrying with backoff")
        # Local commands keep working meanwhile, the watcher answering for its root.
        local = run(
            "--sessions-dir",
            str(roots["hostB"]),
            "--index",
            str(tmp_path / "index-hostB.db"),
            "session",
            "list",
            "--agent",
            "burst",
            "--output-format",
            "json",
        )
        assert local.exit_code == 0 and len(json.loads(local.stdout)) == 300
        started = cluster._run(
            "pg_ctl",
            "-D",
            cluster.data,
            "-l",
            cluster.log,
            "-w",
            "-t",
            "60",
            "-o",
            _restart_options(cluster),
            "start",
        )
        assert started.returncode == 0, started.stdout + started.stderr
        wait_equal(url, roots)
        for daemon in daemons:
            daemon.wait_for_log("works again")
            log = daemon.drain()
            assert log.count("retrying with backoff") == 1  # the outage said once, not per retry
    finally:
        stop_all(daemons)
        cluster.stop()


def test_a_bad_sync_url_is_refused(tmp_path):
    daemon = RunningDaemon(tmp_path / "r", tmp_path / "i.db", ["--sync-to", "mysql://x/y"])
    try:
        assert daemon.process.wait(timeout=30) == 2
        assert "postgresql://" in daemon.drain() + "".join(daemon.process.stderr or [])
    finally:
        stop_all([daemon])
