#!/usr/bin/env python3
"""Measure `mofa-indexd --sync-to`: a cold mirror of a generated tree (sessions/s), the sync
latency of single writes (file written -> row in the database, median and p99), and the
watcher's memory with sync on. Starts a throwaway PostgreSQL cluster (as the tests do) unless
--url names a server.

    python scripts/bench_mirror.py -n 100000 --writes 1000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, KiB."""
    values = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                values[key] = int(value.split()[0])
    return values["VmRSS"], values["VmHWM"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--sessions", type=int, default=100_000)
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--url", help="a PostgreSQL server to use (default: a throwaway one)")
    args = parser.parse_args()

    import psycopg

    cluster = None
    if args.url:
        url = args.url
    else:
        from tests.pg import start_cluster

        cluster, url = start_cluster()
    work = tempfile.mkdtemp(prefix="mofa-bench-mirror-")
    root = os.path.join(work, "sessions")
    bindir = os.path.dirname(sys.executable)
    daemon = None
    try:
        subprocess.run(
            [
                sys.executable,
                os.path.join(HERE, "generate_sessions.py"),
                "--root",
                root,
                "-n",
                str(args.sessions),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        conn = psycopg.connect(url, autocommit=True)
        started = time.monotonic()
        daemon = subprocess.Popen(
            [
                os.path.join(bindir, "mofa-indexd"),
                "--sessions-dir",
                root,
                "--index",
                os.path.join(work, "index.db"),
                "--sync-to",
                url,
                "--origin",
                "bench",
            ],
            stderr=open(os.path.join(work, "indexd.log"), "w"),
        )

        def count() -> int:
            try:
                return conn.execute(
                    "SELECT count(*) FROM mofa_sessions WHERE origin = 'bench'"
                ).fetchone()[0]
            except psycopg.Error:
                return -1

        while count() < args.sessions:
            if daemon.poll() is not None:
                raise SystemExit(f"mofa-indexd exited {daemon.returncode}")
            time.sleep(0.2)
        cold = time.monotonic() - started
        memory_after_cold = rss_kib(daemon.pid)

        latencies = []
        agent_dir = os.path.join(root, "latency-agent")
        os.makedirs(agent_dir, exist_ok=True)
        time.sleep(1.0)
        for number in range(args.writes):
            session_id = f"latency-agent:w{number:05d}"
            document = {
                "session_id": session_id,
                "created_at": "2024-06-01T00:00:00Z",
                "messages": [{"role": "user", "content": f"write {number}"}],
            }
            path = os.path.join(agent_dir, f"w{number:05d}.json")
            temporary = path + ".tmp"
            with open(temporary, "w", encoding="utf-8") as handle:
                json.dump(document, handle)
            begun = time.monotonic()
            os.rename(temporary, path)
            while not conn.execute(
                "SELECT EXISTS (SELECT 1 FROM mofa_sessions WHERE origin ="
                " 'bench' AND session_id = %s)",
                (session_id,),
            ).fetchone()[0]:
                time.sleep(0.001)
                if time.monotonic() - begun > 30:
                    raise SystemExit(f"{session_id} never reached the database")
            latencies.append(time.monotonic() - begun)
        latencies.sort()
        rss, hwm = rss_kib(daemon.pid)
        print(
            json.dumps(
                {
                    "sessions": args.sessions,
                    "cold_mirror_s": round(cold, 2),
                    "cold_sessions_per_s": round(args.sessions / cold),
                    "writes": args.writes,
                    "latency_median_ms": round(statistics.median(latencies) * 1000, 1),
                    "latency_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
                    "latency_max_ms": round(latencies[-1] * 1000, 1),
                    "rss_after_cold_mib": round(memory_after_cold[0] / 1024, 1),
                    "rss_mib": round(rss / 1024, 1),
                    "peak_rss_mib": round(hwm / 1024, 1),
                },
                indent=2,
            )
        )
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.terminate()
            daemon.wait(timeout=30)
        subprocess.run(["rm", "-rf", work], check=False)
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
