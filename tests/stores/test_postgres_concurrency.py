"""Many processes on one PostgreSQL store at once: nothing lost, nothing duplicated.

Real processes (not threads), released together by a start file, against the real server of
tests/pg.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from mofa.stores import open_store

# One worker: waits for the start file, then does its part and prints a JSON summary.
WORKER = r"""
import json, os, sys, time
from mofa.errors import SessionExists
from mofa.stores import open_store

url, go, role, worker = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
import mofa.stores.postgres.store  # noqa: imported before the start, so that all start at once
open(f"{go}.ready-{worker}", "w").close()
deadline = time.monotonic() + 60
while not os.path.exists(go):
    if time.monotonic() > deadline:
        sys.exit("never started")
    time.sleep(0.005)
done = {"saved": 0, "refused": 0}
with open_store(url) as store:
    if role == "append":
        ref = store.resolve("agent:chat")
        for n in range(25):
            store.append(ref, {"role": "user", "content": f"{worker}-{n}"})
    elif role == "save":
        for n in range(20):
            try:
                messages = [{"role": "user", "content": f"{worker}-{m}"} for m in range(3)]
                store.save(f"agent:s{n}", {"created_at": "2024-01-01T00:00:00Z",
                           "messages": messages})
                done["saved"] += 1
            except SessionExists:
                done["refused"] += 1
    elif role == "replace":
        for n in range(10):
            store.save("agent:shared", {"created_at": "2024-01-01T00:00:00Z", "by": worker,
                       "messages": [{"role": "user", "content": f"{worker}"}] * (worker + 1)},
                       replace=True)
            store.append(store.resolve("agent:shared"),
                         {"role": "assistant", "content": f"{worker}+"})
    elif role == "open":
        done["version"] = store.status()["schema_version"]
print(json.dumps(done))
"""


def start_together(tmp_path, url: str, roles: list[str]) -> list[subprocess.Popen]:
    """One process per role, released at once when all are ready."""
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, str(go), role, str(worker)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker, role in enumerate(roles)
    ]
    try:
        deadline = time.monotonic() + 120
        while not all((tmp_path / f"go.ready-{worker}").exists() for worker in range(len(roles))):
            assert time.monotonic() < deadline, "the workers never got ready"
            assert all(process.poll() is None for process in processes), "a worker died early"
            time.sleep(0.01)
        go.write_text("go")
    except BaseException:
        stop(processes)
        raise
    return processes


def finish(processes: list[subprocess.Popen]) -> list[dict]:
    """Each worker's summary, once all ended (bounded); every one must have succeeded."""
    try:
        results = []
        for process in processes:
            out, err = process.communicate(timeout=120)
            assert process.returncode == 0, err
            assert "Traceback" not in err
            results.append(json.loads(out))
        return results
    finally:
        stop(processes)


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate()


def run_together(tmp_path, url: str, roles: list[str]) -> list[dict]:
    return finish(start_together(tmp_path, url, roles))


def message_rows(postgres_server, schema: str, session_id: str) -> list[tuple]:
    return (
        postgres_server.admin()
        .execute(
            f'SELECT position, message FROM "{schema}".mofa_messages WHERE session_id = %s'
            " ORDER BY position",
            (session_id,),
        )
        .fetchall()
    )


def test_concurrent_appenders_lose_and_duplicate_nothing(
    tmp_path, pg_url, postgres_server, pg_schema
):
    with open_store(pg_url) as store:
        store.save("agent:chat", {"created_at": "2024-01-01T00:00:00Z", "messages": []})
    run_together(tmp_path, pg_url, ["append"] * 8)
    rows = message_rows(postgres_server, pg_schema, "agent:chat")
    assert [position for position, _ in rows] == list(range(200))
    contents = [json.loads(text)["content"] for _, text in rows]
    assert sorted(contents) == sorted(f"{w}-{n}" for w in range(8) for n in range(25))
    for worker in range(8):  # each appender's messages in its own order
        own = [c for c in contents if c.startswith(f"{worker}-")]
        assert own == [f"{worker}-{n}" for n in range(25)]
    with open_store(pg_url) as store:
        assert store.list()[0].message_count == 200
        assert store.get("chat").messages[-1]["content"] in contents


def test_concurrent_savers_of_the_same_ids_one_wins_each(
    tmp_path, pg_url, postgres_server, pg_schema
):
    results = run_together(tmp_path, pg_url, ["save"] * 8)
    assert sum(result["saved"] for result in results) == 20
    assert sum(result["refused"] for result in results) == 7 * 20
    with open_store(pg_url) as store:
        rows = store.list()
        assert sorted(row.session_id for row in rows) == sorted(f"agent:s{n}" for n in range(20))
        for row in rows:
            contents = [m["content"] for m in store.get(row.session_id).messages]
            worker = contents[0].split("-")[0]
            assert contents == [f"{worker}-{m}" for m in range(3)]  # one saver's, whole
            assert row.message_count == 3


def test_concurrent_replacers_and_appenders_leave_one_whole_session(
    tmp_path, pg_url, postgres_server, pg_schema
):
    with open_store(pg_url) as store:
        store.save("agent:shared", {"messages": []})
    run_together(tmp_path, pg_url, ["replace"] * 6)
    rows = message_rows(postgres_server, pg_schema, "agent:shared")
    assert [position for position, _ in rows] == list(range(len(rows)))
    with open_store(pg_url) as store:
        session = store.get("agent:shared")
        owner = session.document["by"]
        contents = [m["content"] for m in session.messages]
        # The last replace's messages, whole, then appends (of anyone) made after it.
        assert contents[: owner + 1] == [f"{owner}"] * (owner + 1)
        assert all(content.endswith("+") for content in contents[owner + 1 :])
        assert store.list()[0].message_count == len(rows) == len(contents)


def test_sixteen_first_uses_of_a_fresh_database_at_once_all_succeed(
    tmp_path, pg_url, postgres_server, pg_schema
):
    results = run_together(tmp_path, pg_url, ["open"] * 16)
    from mofa.stores.postgres.schema import LATEST_VERSION

    assert [result["version"] for result in results] == [LATEST_VERSION] * 16
    assert postgres_server.admin().execute(
        f'SELECT version FROM "{pg_schema}".mofa_schema'
    ).fetchall() == [(LATEST_VERSION,)]


def test_readers_do_not_wait_for_a_writer(pg_url):
    """A writer's open transaction (here: a held row lock) never blocks list, show or query."""
    with open_store(pg_url) as writer, open_store(pg_url) as reader:
        writer.save("agent:busy", {"created_at": "2024-01-01T00:00:00Z", "messages": []})
        with writer.conn.transaction():
            writer.conn.execute(
                "SELECT 1 FROM mofa_sessions WHERE session_id = 'agent:busy' FOR UPDATE"
            )
            writer.conn.execute(
                "UPDATE mofa_sessions SET status = 'busy' WHERE session_id = 'agent:busy'"
            )
            reader.conn.execute("SET statement_timeout = 5000")  # a wait would fail, not hang
            assert [row.status for row in reader.list()] == ["empty"]
            assert reader.get("busy").message_count == 0
            result = reader.query("SELECT status FROM sessions", timeout=5)
            assert list(result.rows) == [("empty",)]
            result.close()


def test_first_uses_queue_behind_a_migration_in_progress(tmp_path, pg_url, postgres_server):
    """Deterministic form of the race: 16 first uses start while another process is in the
    middle of creating the schema. They must wait for it and then find the schema made; without
    the advisory lock they would try to create the same tables and fail on duplicate keys."""
    import psycopg

    from mofa.stores.postgres import schema

    with psycopg.connect(pg_url, autocommit=True) as conn:
        processes = []
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (schema.MIGRATION_LOCK,))
                conn.execute("CREATE TABLE mofa_schema (version integer NOT NULL)")
                schema.m001_initial(conn)
                conn.execute("INSERT INTO mofa_schema (version) VALUES (1)")
                processes = start_together(tmp_path, pg_url, ["open"] * 16)
                deadline = time.monotonic() + 60
                while (
                    postgres_server.admin()
                    .execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'mofa'"
                        " AND wait_event_type = 'Lock'"
                    )
                    .fetchone()[0]
                    < 16
                ):
                    assert time.monotonic() < deadline, "the first uses never queued"
                    assert all(process.poll() is None for process in processes), "one did not wait"
                    time.sleep(0.01)
        except BaseException:
            stop(processes)
            raise
    assert [result["version"] for result in finish(processes)] == [schema.LATEST_VERSION] * 16
