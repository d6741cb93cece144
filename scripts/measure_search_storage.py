#!/usr/bin/env python3
"""Measure what the search data costs in each FTS5 layout on a sessions root: size against the
sessions' own bytes, build time (read every file, insert each message's text, optimize) and
the time of a few queries.

    python scripts/generate_sessions.py --root /tmp/s10k -n 10000 -a 50 --realistic
    python scripts/measure_search_storage.py /tmp/s10k /tmp/fts-work

Layouts: `copy` is what the index keeps today (the text in the FTS5 table beside its
index); the `contentless` ones keep only the index (`content=''`): snippets must then come
from the files, and this SQLite cannot delete a contentless row before 3.43.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import time

TOKENIZE = "unicode61 remove_diacritics 2"
LAYOUTS = {
    "copy": "content, role UNINDEXED",
    "contentless, detail=full": "content, content='', columnsize=0",
    "contentless, detail=column": "content, content='', columnsize=0, detail=column",
    "contentless, detail=none": "content, content='', columnsize=0, detail=none",
}
QUERIES = ("the", '"of the"', "government", "refund", "gover*", "water NOT the")


def message_texts(root: str):
    """(session number, text) of every message of every session file under `root`."""
    number = 0
    for directory, _, names in sorted(os.walk(root)):
        for name in sorted(names):
            path = os.path.join(directory, name)
            with open(path, encoding="utf-8") as handle:
                data = handle.read()
            if name.endswith(".jsonl"):
                messages = [json.loads(line) for line in data.split("\n")[1:] if line]
            elif name.endswith(".json"):
                messages = json.loads(data).get("messages", [])
            else:
                continue
            number += 1
            for item in messages:
                content = item.get("content")
                if not isinstance(content, str):
                    content = json.dumps(content, ensure_ascii=False)
                yield number, content


def tree_bytes(root: str) -> int:
    return sum(
        os.path.getsize(os.path.join(directory, name))
        for directory, _, names in os.walk(root)
        for name in names
    )


def build(root: str, path: str, columns: str) -> float:
    started = time.perf_counter()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"CREATE VIRTUAL TABLE m USING fts5({columns}, tokenize = '{TOKENIZE}')")
    with conn:
        if columns.startswith("content, role"):
            conn.executemany(
                "INSERT INTO m (rowid, content, role) VALUES (?, ?, 'user')",
                ((index, text) for index, (_, text) in enumerate(message_texts(root), 1)),
            )
        else:
            conn.executemany(
                "INSERT INTO m (rowid, content) VALUES (?, ?)",
                ((index, text) for index, (_, text) in enumerate(message_texts(root), 1)),
            )
    with conn:
        conn.execute("INSERT INTO m (m) VALUES ('optimize')")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - started


def query_ms(path: str, query: str) -> tuple[float, int]:
    conn = sqlite3.connect(path)
    started = time.perf_counter()
    count = conn.execute("SELECT count(*) FROM m WHERE m MATCH ?", (query,)).fetchone()[0]
    elapsed = (time.perf_counter() - started) * 1000
    conn.close()
    return elapsed, count


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("root")
    parser.add_argument("work")
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    sessions = tree_bytes(args.root)
    report = {"sqlite": sqlite3.sqlite_version, "session_bytes": sessions, "layouts": {}}
    for number, (label, columns) in enumerate(LAYOUTS.items()):
        path = os.path.join(args.work, f"layout-{number}.sqlite")
        seconds = build(args.root, path, columns)
        size = os.path.getsize(path)
        queries = {}
        for query in QUERIES:
            try:
                queries[query] = query_ms(path, query)
            except sqlite3.OperationalError as error:  # detail=none keeps no positions
                queries[query] = str(error)
        report["layouts"][label] = {
            "build_s": round(seconds, 1),
            "bytes": size,
            "share_of_sessions": round(size / sessions, 3),
            "queries_ms_matches": queries,
        }
        print(json.dumps({label: report["layouts"][label]}), flush=True)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
