#!/usr/bin/env python3
"""Time `mofa session search` on a sessions root whose index and search data are built (warm),
each query against the floor of any click program (`python -c 'import click'`): the median
of `--runs` runs of each, floor and queries taken in turn so that a loaded machine weighs on
both alike.

    python scripts/generate_sessions.py --root /tmp/s10k -n 10000 -a 50 --realistic
    python scripts/measure_search_queries.py /tmp/s10k /tmp/s10k.sqlite3 --runs 7

Prints one JSON line per query (median ms, ratio to the floor, matching sessions), then a
Markdown table for docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

QUERIES = (
    ("a common word", "the"),
    ("a common phrase", '"of the"'),
    ("a rare word", "abbreviation"),
    ("a word in no message", "xylophone"),
    ("a prefix", "gover*"),
    ("two words", "water government"),
    ("OR", "water OR government"),
    ("NOT", "water -the"),
)


def timed(command: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(
        command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return (time.perf_counter() - started) * 1000


def matching_sessions(index: str, query: str) -> int | None:
    """Sessions with a message matching `query` (None: search data of another version)."""
    from indexer.index.search import BLOCK_BITS, match_expression

    conn = sqlite3.connect(f"file:{index}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT count(DISTINCT b.session) FROM search_messages m"
            f" JOIN search_blocks b ON b.id = m.rowid >> {BLOCK_BITS}"
            " WHERE search_messages MATCH ?",
            (match_expression(query),),
        ).fetchone()[0]
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("root")
    parser.add_argument("index")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    mofa = shutil.which("mofa") or os.path.join(os.path.dirname(sys.executable), "mofa")
    env = dict(
        os.environ,
        MOFA_SESSIONS_DIR=args.root,
        MOFA_INDEX_PATH=args.index,
        MOFA_AUTOSTART="0",
        COLUMNS="120",
    )
    search = [mofa, "session", "search"]
    subprocess.run([*search, "the"], env=env, check=True, stdout=subprocess.DEVNULL)  # warm
    floor: list[float] = []
    listing: list[float] = []  # any command that refreshes the index by stat-ing the files
    times: dict[str, list[float]] = {query: [] for _, query in QUERIES}
    for _ in range(args.runs):
        floor.append(timed([sys.executable, "-c", "import click"], env))
        listing.append(timed([mofa, "session", "list", "--limit", "1"], env))
        for _, query in QUERIES:
            times[query].append(timed([*search, query], env))
    floor_ms = statistics.median(floor)
    rows = []
    for label, query in QUERIES:
        sessions = matching_sessions(args.index, query)
        ms = statistics.median(times[query])
        rows.append((label, query, ms, ms / floor_ms, sessions))
        print(json.dumps({"query": query, "ms": round(ms), "ratio": round(ms / floor_ms, 2)}))
    print(f"\nfloor (import click): {floor_ms:.0f} ms\n")
    print("| query | matching sessions | ms | ÷ click |")
    print("|---|---:|---:|---:|")
    list_ms = statistics.median(listing)
    print(f"| (`list --limit 1`, for reference) | – | {list_ms:.0f} | {list_ms / floor_ms:.2f} |")
    for label, query, ms, ratio, sessions in rows:
        count = "–" if sessions is None else f"{sessions:,}"
        print(f"| {label}: `{query}` | {count} | {ms:.0f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
