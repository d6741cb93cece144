#!/usr/bin/env python3
"""What mofa-indexd's background search build costs, and what handshakes wait meanwhile.

Starts the watcher on a fresh index of ROOT twice, with --no-search and without, and reports
for each: the watcher's CPU seconds until it is done (reconciled; reconciled and the search
data built), the index's bytes (the search data's share from SQLite's dbstat), and the time
the watcher took to answer handshakes meanwhile (`index status`: watcher_caught_up_ms), with
and without a session file changed before each.

    python scripts/generate_sessions.py --root /tmp/s -n 20000 -a 50
    python scripts/measure_watcher_search.py --root /tmp/s
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

BIN = os.path.dirname(sys.executable)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def meta(index: str, key: str) -> str | None:
    try:
        conn = sqlite3.connect(f"file:{index}?mode=ro", uri=True, timeout=30)
    except sqlite3.OperationalError:
        return None
    try:
        rows = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchall()
        return rows[0][0] if rows else None
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()


def sizes(index: str) -> tuple[int, int]:
    """(bytes of the index file and its WAL, bytes of the search data's tables)."""
    conn = sqlite3.connect(index, timeout=30)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        total = sum(os.path.getsize(index + s) for s in ("", "-wal") if os.path.exists(index + s))
        row = conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'search_%'").fetchone()
        return total, row[0] or 0
    finally:
        conn.close()


def caught_up_ms(env: dict) -> float | None:
    result = subprocess.run(
        [os.path.join(BIN, "mofa"), "session", "index", "status", "-f", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)["watcher_caught_up_ms"]


def run(root: str, search: bool, files: list[str]) -> dict:
    directory = tempfile.mkdtemp(prefix="mofa-measure-")
    index = os.path.join(directory, "index.sqlite3")
    env = dict(os.environ, MOFA_SESSIONS_DIR=root, MOFA_INDEX_PATH=index, MOFA_AUTOSTART="0")
    log = open(os.path.join(directory, "log"), "w+")
    argv = [os.path.join(BIN, "mofa-indexd")] + ([] if search else ["--no-search"])
    watcher = subprocess.Popen(argv, env=env, stderr=log)
    try:
        while "watching" not in open(log.name).read():
            time.sleep(0.05)
        reconciled = cpu_seconds(watcher.pid)
        idle, written = [], []
        for number, path in enumerate(files):
            if search and meta(index, "search_build") is None and number:
                break  # the build is over
            os.utime(path)
            written.append(caught_up_ms(env))
            idle.append(caught_up_ms(env))
        if search:
            while "built the search data" not in open(log.name).read():
                time.sleep(0.1)
        done = cpu_seconds(watcher.pid)
        index_bytes, search_bytes = sizes(index)
    finally:
        watcher.send_signal(signal.SIGTERM)
        watcher.wait(timeout=30)
        log.close()
        shutil.rmtree(directory)
    return {
        "search": search,
        "cpu_s_reconciled": round(reconciled, 2),
        "cpu_s_done": round(done, 2),
        "index_bytes": index_bytes,
        "search_bytes": search_bytes,
        "handshake_ms": _spread(idle),
        "handshake_after_a_write_ms": _spread(written),
    }


def _spread(values: list) -> dict:
    values = [value for value in values if value is not None]
    if not values:
        return {}
    return {"n": len(values), "median": statistics.median(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--samples", type=int, default=40, help="handshakes timed, at most")
    args = parser.parse_args()
    root = os.path.abspath(args.root)
    files = []
    for directory, _, names in os.walk(root):
        files.extend(os.path.join(directory, name) for name in names if name.endswith(".json"))
        if len(files) >= args.samples:
            break
    files = files[: args.samples]
    for search in (False, True):
        print(json.dumps(run(root, search, files)))


if __name__ == "__main__":
    main()
