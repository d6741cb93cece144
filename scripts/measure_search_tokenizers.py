#!/usr/bin/env python3
"""Measure the FTS5 tokenizers for `search` on a sessions root: build time, size, query times.

    python scripts/generate_sessions.py --root bench-data/s10k -n 10000 -a 50 --jsonl-fraction 0.1
    python scripts/measure_search_tokenizers.py bench-data/s10k bench-data/work

Times are CPU time of this process (the median of --runs), which a busy machine disturbs less
than wall time; both are printed.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from indexer.index import search as S  # noqa: E402
from indexer.index.session_index import SessionIndex  # noqa: E402

TOKENIZERS = ("unicode61 remove_diacritics 2", "trigram")
QUERIES = (
    ("word", "refund"),
    ("two words", "cancelled invoice"),
    ("phrase", '"order status"'),
    ("prefix", "deliv*"),
)


def timed(function):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def fresh_copy(base: str, path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)
    shutil.copy(base, path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("root")
    parser.add_argument("work", help="directory for the index files")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    base = os.path.join(args.work, "base.sqlite3")
    if not os.path.exists(base):
        index = SessionIndex(args.root, base)
        index.refresh()
        index.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        index.close()
    report = {"index_without_search_bytes": os.path.getsize(base)}
    for tokenizer in TOKENIZERS:
        path = os.path.join(args.work, tokenizer.split()[0] + ".sqlite3")
        fresh_copy(base, path)
        index = SessionIndex(args.root, path)
        try:
            read, wall, cpu = timed(
                functools.partial(S.ensure_search, index.conn, args.root, tokenizer=tokenizer)
            )
            index.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            row = {
                "sessions_read": read,
                "build_wall_s": round(wall, 2),
                "build_cpu_s": round(cpu, 2),
                "index_bytes": os.path.getsize(path),
                "search_bytes": S.search_size(index.conn),
            }
            for label, query in QUERIES:
                walls, cpus = [], []
                for _ in range(args.runs):
                    hits, wall, cpu = timed(functools.partial(S.search, index.conn, query))
                    walls.append(wall)
                    cpus.append(cpu)
                matches = index.conn.execute(
                    "SELECT count(*) FROM search_messages WHERE search_messages MATCH ?",
                    (S.match_expression(query),),
                ).fetchone()[0]
                row[label] = {
                    "query": query,
                    "messages": matches,
                    "cpu_ms": round(statistics.median(cpus) * 1000, 1),
                    "wall_ms": round(statistics.median(walls) * 1000, 1),
                }
            report[tokenizer] = row
        finally:
            index.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
