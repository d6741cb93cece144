#!/usr/bin/env python3
"""Benchmark the PostgreSQL store against floors measured in the same run.

    python scripts/bench_postgres.py                  # 100,000 sessions, a throwaway server
    python scripts/bench_postgres.py -n 20000 --runs 5 --url postgresql://me@/bench

- import: every session of a generated files root saved into the store, one `save` each (what
  `import --from-dir` does), in sessions per second, against `COPY` of the very same rows into
  the same tables (target: within 3x);
- commands on the filled store (`list --limit 10`, `list --agent` of the largest agent, `show`,
  `search --limit 10` of a rare word and of a common one) against the floor of a process that
  imports click and psycopg and runs one connect-and-`SELECT 1` (target: 1.3x). The generated
  messages draw on 60 words, each in about half of them: RARE_SESSIONS sessions saved after the
  import hold the rare word.

Without --url it starts a cluster of its own like the tests do (tests/pg.py: `fsync=off`, a
unix socket), and removes it at the end; with --cluster DIR it keeps that cluster in DIR, and
a later run with the same --cluster and --commands-only reuses the store filled there (no
reading of the files, no COPY: minutes less), stopping the server at the end. Medians of --runs
runs, commands interleaved.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
BIN = os.path.dirname(sys.executable)
PY = sys.executable
MOFA = os.path.join(BIN, "mofa")
# Measured for scale, without a target: the listings are limited (`--limit 10`).
UNTARGETED = {"list --agent largest"}
RARE_WORD = "xylophone"
RARE_SESSIONS = 5


def generated_root(args) -> tuple[str, dict]:
    if args.root:
        # A tree made before: read as it is, never generated into (it may be read-only).
        with open(args.root.rstrip("/") + ".json") as handle:
            return args.root, json.load(handle)
    root = os.path.join(args.data, f"sessions-{args.sessions}-{args.agents}-{args.seed}")
    summary_path = root + ".json"
    if not os.path.exists(summary_path):
        print(f"generating {args.sessions} sessions in {root} ...", file=sys.stderr)
        output = subprocess.run(
            [
                PY,
                os.path.join(HERE, "generate_sessions.py"),
                "--root",
                root,
                "-n",
                str(args.sessions),
                "-a",
                str(args.agents),
                "--seed",
                str(args.seed),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        with open(summary_path, "w") as handle:
            handle.write(output)
    with open(summary_path) as handle:
        return root, json.load(handle)


def with_schema(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"


def fresh_schema(admin, name: str) -> None:
    admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    admin.execute(f'CREATE SCHEMA "{name}"')


FILLED_MARK = "filled by bench_postgres.py"


def filled_store(admin, name: str) -> tuple[int, int] | None:
    """(sessions, messages) of the store an earlier run filled in schema `name` (it marks the
    schema once every row is in), else None."""
    from mofa.stores.postgres.schema import LATEST_VERSION

    mark = admin.execute(
        "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s", (name,)
    ).fetchone()
    if not mark or mark[0] != FILLED_MARK:
        return None
    version = admin.execute(f'SELECT version FROM "{name}".mofa_schema').fetchone()
    if not version or version[0] != LATEST_VERSION:
        return None
    sessions, messages = admin.execute(
        f'SELECT count(*), coalesce(sum(message_count), 0) FROM "{name}".mofa_sessions'
    ).fetchone()
    return sessions - RARE_SESSIONS, int(messages) - RARE_SESSIONS


def read_documents(root: str) -> list[tuple[str, dict]]:
    from mofa.documents import export_document
    from mofa.stores.files import FileSessionStore

    files = FileSessionStore(root)
    return [(session.session_id, export_document(session)) for session in files.iter_sessions()]


def import_rate(url: str, documents) -> float:
    from mofa.stores import open_store

    with open_store(url) as store:
        started = time.perf_counter()
        for session_id, document in documents:
            store.save(session_id, document)
        return time.perf_counter() - started


def copy_rate(url: str, documents) -> float:
    """COPY of the same rows the store writes (built first, not timed)."""
    import psycopg

    from mofa.stores import open_store
    from mofa.stores.postgres import records
    from mofa.stores.postgres.records import MessageRecord, SessionRecord

    open_store(url).close()  # the schema
    sessions, messages = [], []
    for session_id, document in documents:
        layout, fields, items, at = records.split_document(session_id, document)
        agent, name = records.identity(session_id, layout, fields.get("metadata") or {})
        session = records.assemble(
            session_id, agent, name, layout, fields, items, at, time.time_ns()
        )
        rows = [records.message_record(session_id, n, item) for n, item in enumerate(items)]
        sessions.append(records.session_record(session, fields, at, [row.message for row in rows]))
        messages.extend(rows)
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cursor:
            with cursor.copy(
                f"COPY mofa_sessions ({', '.join(SessionRecord._fields)}) FROM STDIN"
            ) as copy:
                for row in sessions:
                    copy.write_row(row)
            with cursor.copy(
                f"COPY mofa_messages ({', '.join(MessageRecord._fields)}) FROM STDIN"
            ) as copy:
                for row in messages:
                    copy.write_row(row)
        return time.perf_counter() - started


def add_rare_sessions(url: str) -> None:
    """Sessions holding RARE_WORD, which no generated message has."""
    from mofa.stores import open_store

    with open_store(url) as store:
        for n in range(RARE_SESSIONS):
            store.save(
                f"rare:s{n}",
                {
                    "created_at": f"2024-05-0{n + 1}T10:00:00Z",
                    "messages": [
                        {
                            "role": "user",
                            "content": f"The {RARE_WORD} order {n} is late",
                            "timestamp": f"2024-05-0{n + 1}T10:00:00Z",
                        }
                    ],
                },
            )


def remigrate(url: str) -> float:
    """Seconds the per-session words' migrations (m004 and m005, the counts then the positions)
    take on the filled store: taken back to version 3 first (the table and triggers dropped)."""
    import psycopg

    from mofa.stores import open_store

    with psycopg.connect(url, autocommit=True) as conn:
        for operation in ("added", "removed", "changed"):
            conn.execute(f"DROP TRIGGER mofa_words_{operation} ON mofa_messages")
            conn.execute(f"DROP FUNCTION mofa_words_{operation}")
        conn.execute("DROP TABLE mofa_session_words")
        conn.execute("UPDATE mofa_schema SET version = 3")
    started = time.perf_counter()
    open_store(url).close()
    return time.perf_counter() - started


def timed(argv) -> float:
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def medians(commands: dict, runs: int) -> dict:
    samples = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            samples[name].append(timed(argv))
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--sessions", type=int, default=100_000)
    parser.add_argument("-a", "--agents", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--url", help="a server whose user may create schemas (default: start one)")
    parser.add_argument("--data", default=os.path.join(REPO, "bench-data"))
    parser.add_argument(
        "--root",
        help="an existing generated tree (its summary ROOT.json next to"
        " it) to read instead of generating one under --data",
    )
    parser.add_argument(
        "--cluster",
        metavar="DIR",
        help="keep the server's cluster in DIR (not"
        " removed at the end) and, with --commands-only, reuse the store filled"
        " there by an earlier run",
    )
    parser.add_argument(
        "--settings",
        default="",
        help='more server options for the cluster started here, e.g. "-c shared_buffers=1GB"',
    )
    parser.add_argument(
        "--commands-only",
        action="store_true",
        help="fill the store by COPY and time only the commands (no import rate,"
        " no migration time): ~10 minutes less on 100,000 sessions",
    )
    args = parser.parse_args()

    import signal

    import psycopg

    # A SIGTERM (timeout, kill) ends the run through the `finally` that stops the server.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    root, tree = generated_root(args)
    cluster = None
    if args.url:
        base = args.url
    else:
        from tests.pg import start_cluster

        cluster, base = start_cluster(args.cluster, args.settings)
    try:
        admin = psycopg.connect(base, autocommit=True)
        url = with_schema(base, "bench_store")
        import_seconds = migration_seconds = read_seconds = None
        filled = args.commands_only and args.cluster and filled_store(admin, "bench_store")
        if filled:
            print("reusing the store filled by an earlier run ...", file=sys.stderr)
            count, messages = filled
        else:
            print("reading the files ...", file=sys.stderr)
            started = time.perf_counter()
            documents = read_documents(root)
            read_seconds = time.perf_counter() - started
            count = len(documents)
            messages = sum(len(document.get("messages") or ()) for _, document in documents)
        if filled:
            pass
        elif args.commands_only:
            print("COPY ...", file=sys.stderr)
            fresh_schema(admin, "bench_store")
            copy_seconds = copy_rate(url, documents)
        else:
            print("COPY ...", file=sys.stderr)
            fresh_schema(admin, "bench_copy")
            copy_seconds = copy_rate(with_schema(base, "bench_copy"), documents)
            print("import (one save per session) ...", file=sys.stderr)
            fresh_schema(admin, "bench_store")
            import_seconds = import_rate(url, documents)
        if not filled:
            add_rare_sessions(url)
            admin.execute('VACUUM ANALYZE "bench_store".mofa_sessions')
            admin.execute('VACUUM ANALYZE "bench_store".mofa_messages')
            admin.execute('VACUUM ANALYZE "bench_store".mofa_session_words')
            if args.cluster:
                admin.execute(f'COMMENT ON SCHEMA "bench_store" IS {FILLED_MARK!r}')
        if not args.commands_only:
            migration_seconds = remigrate(url)
        sizes = admin.execute(
            "SELECT c.relname, pg_size_pretty(pg_total_relation_size(c.oid)) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'bench_store'"
            " AND c.relkind = 'r' ORDER BY pg_total_relation_size(c.oid) DESC"
        ).fetchall()

        largest = tree["largest"]
        some = f"{largest}:session-000000"
        floor = [PY, "-c", f"import click, psycopg; psycopg.connect({url!r}).execute('SELECT 1')"]
        print("commands ...", file=sys.stderr)
        r = medians(
            {
                "floor": floor,
                "list --limit 10": [
                    MOFA,
                    "--store",
                    url,
                    "session",
                    "list",
                    "--limit",
                    "10",
                    "-f",
                    "json",
                ],
                "list --limit 10 (table)": [
                    MOFA,
                    "--store",
                    url,
                    "session",
                    "list",
                    "--limit",
                    "10",
                ],
                "list --agent largest": [
                    MOFA,
                    "--store",
                    url,
                    "session",
                    "list",
                    "--agent",
                    largest,
                    "-f",
                    "json",
                ],
                "list --agent largest --limit 10": [
                    MOFA,
                    "--store",
                    url,
                    "session",
                    "list",
                    "--agent",
                    largest,
                    "--limit",
                    "10",
                    "-f",
                    "json",
                ],
                "show": [MOFA, "--store", url, "session", "show", some, "-f", "json"],
                "search rare word --limit 10": [
                    MOFA,
                    "--store",
                    url,
                    "session",
                    "search",
                    RARE_WORD,
                    "--limit",
                    "10",
                    "-f",
                    "json",
                ],
                "search common word --limit 10": [
                    MOFA,
                    "--store",
                    url,
                    "session",
                    "search",
                    "refund",
                    "--limit",
                    "10",
                    "-f",
                    "json",
                ],
                "search two common words --limit 10": [
                    MOFA,
                    "--store",
                    url,
                    "session",
                    "search",
                    "refund invoice",
                    "--limit",
                    "10",
                    "-f",
                    "json",
                ],
                "search --agent smallest (2 words)": [
                    MOFA,
                    "--store",
                    url,
                    "session",
                    "search",
                    "refund invoice",
                    "--agent",
                    tree["smallest"],
                    "-f",
                    "json",
                ],
                "query group by agent": [
                    MOFA,
                    "--store",
                    url,
                    "session",
                    "query",
                    "SELECT agent, count(*) FROM sessions GROUP BY agent",
                    "-f",
                    "json",
                ],
            },
            args.runs,
        )
    finally:
        if cluster is not None:
            cluster.stop()

    print(
        f"\n{count:,} sessions ({messages:,} messages) over {tree['agents']} agents, largest"
        f" {tree['largest_size']:,}; {os.cpu_count()} cores; medians of {args.runs} runs\n"
    )
    print("| measure | ours | floor | ratio | target | met |")
    print("|---|---:|---:|---:|---:|:---:|")
    if import_seconds is not None:
        ratio = import_seconds / copy_seconds
        print(
            f"| import, one save per session | {count / import_seconds:,.0f} sessions/s |"
            f" COPY {count / copy_seconds:,.0f} sessions/s | {ratio:.2f} | ≤ 3 |"
            f" {'yes' if ratio <= 3 else '**no**'} |"
        )
    for name in (
        "list --limit 10",
        "list --limit 10 (table)",
        "list --agent largest --limit 10",
        "list --agent largest",
        "show",
        "search rare word --limit 10",
        "search common word --limit 10",
        "search two common words --limit 10",
        "search --agent smallest (2 words)",
        "query group by agent",
    ):
        ratio = r[name] / r["floor"]
        if name in UNTARGETED:  # every row of the largest agent: its output, not the store
            print(
                f"| {name} (all {tree['largest_size']:,} rows) | {r[name] * 1000:.0f} ms |"
                f" {r['floor'] * 1000:.0f} ms | {ratio:.2f} | – | – |"
            )
            continue
        print(
            f"| {name} | {r[name] * 1000:.0f} ms | {r['floor'] * 1000:.0f} ms | {ratio:.2f} |"
            f" ≤ 1.3 | {'yes' if ratio <= 1.3 else '**no**'} |"
        )
    migrated = (
        ""
        if migration_seconds is None
        else "Migrations m004 and m005 (per-session words) on the filled store:"
        f" {migration_seconds:.1f} s. "
    )
    print(
        f"\n{migrated}Sizes (with indexes): {', '.join(f'{name} {size}' for name, size in sizes)}."
    )
    read = (
        ""
        if read_seconds is None
        else f" Reading and parsing the files (not in either import figure): {read_seconds:.1f} s."
    )
    print(f"\nFloor: python -c 'import click, psycopg' + connect + SELECT 1.{read}")


if __name__ == "__main__":
    main()
