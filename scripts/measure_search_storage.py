#!/usr/bin/env python3
"""Measure what the search data costs in each FTS5 layout on a sessions root: size against the
sessions' own bytes, build time (read every file, insert each message's text, optimize) and
the time of a few queries.

    python scripts/generate_sessions.py --root /tmp/s10k -n 10000 -a 50 --realistic
    python scripts/measure_search_storage.py /tmp/s10k /tmp/fts-work

Layouts: `copy` keeps the text in the FTS5 table beside its index (the search data before
version 4); the `contentless` ones keep only the index (`content=''`): snippets come from the
files, and this SQLite cannot delete a contentless row before 3.43. Their row ids are the
messages' numbers 1, 2, 3...; the last two layouts number them as the index does (a block of
16 messages of one session per id >> 4) and as it did (a session's key << 24 | position).

    python scripts/measure_search_storage.py /tmp/s10k /tmp/fts-work --appends 50

`--appends N` measures instead what a live session costs the index (a copy of the root, its
index and search data built): N messages appended one at a time to one session, each followed
by a refresh of that file and a catch-up of the search data, then N rewrites of its first
message (each retires the session's rows): milliseconds a step, bytes the search data grew.
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
    "contentless, detail=full, blocks of 16": "content, content='', columnsize=0",
    "contentless, detail=full, key << 24": "content, content='', columnsize=0",
}
ROW_IDS = {  # (session number, position, message number) -> row id
    "contentless, detail=full, blocks of 16": None,  # numbered by blocks(), below
    "contentless, detail=full, key << 24": lambda session, position, number: (
        session << 24 | position
    ),
}
QUERIES = ("the", '"of the"', "government", "refund", "gover*", "water NOT the")


def message_texts(root: str):
    """(session number, position, text) of every message of every session file under `root`."""
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
            for position, item in enumerate(messages):
                content = item.get("content")
                if not isinstance(content, str):
                    content = json.dumps(content, ensure_ascii=False)
                yield number, position, content


def numbered(root: str, label: str):
    """(row id, text) of every message, row ids as `label` numbers them."""
    if label not in ROW_IDS:
        for number, (_, _, text) in enumerate(message_texts(root), 1):
            yield number, text
        return
    shift = ROW_IDS[label]
    if shift is not None:
        for number, (session, position, text) in enumerate(message_texts(root), 1):
            yield shift(session, position, number), text
        return
    block, session_of_block, first = 0, None, 0
    for session, position, text in message_texts(root):
        if session != session_of_block or position - first >= 16:
            block, session_of_block, first = block + 1, session, position
        yield (block << 4) + position - first, text


def tree_bytes(root: str) -> int:
    return sum(
        os.path.getsize(os.path.join(directory, name))
        for directory, _, names in os.walk(root)
        for name in names
    )


def build(root: str, path: str, columns: str, label: str) -> float:
    started = time.perf_counter()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"CREATE VIRTUAL TABLE m USING fts5({columns}, tokenize = '{TOKENIZE}')")
    with conn:
        if columns.startswith("content, role"):
            conn.executemany(
                "INSERT INTO m (rowid, content, role) VALUES (?, ?, 'user')",
                numbered(root, label),
            )
        else:
            conn.executemany("INSERT INTO m (rowid, content) VALUES (?, ?)", numbered(root, label))
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


def measure_appends(root: str, work: str, steps: int) -> None:
    import statistics
    import sys

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from indexer.index.search import ensure_search, search_counts, search_size
    from indexer.index.session_index import SessionIndex

    shutil.rmtree(work, ignore_errors=True)
    copy = os.path.join(work, "root")
    shutil.copytree(root, copy)
    path = os.path.join(work, "index.sqlite3")
    index = SessionIndex(copy, path)
    index.refresh()
    ensure_search(index.conn, copy)
    agent = sorted(name for name in os.listdir(copy) if os.path.isdir(os.path.join(copy, name)))[0]
    name = sorted(os.listdir(os.path.join(copy, agent)))[0]
    file = os.path.join(copy, agent, name)

    def size() -> int:  # pages of the search data in use (the file reuses free ones first)
        return search_size(index.conn)

    def step(change) -> float:
        with open(file, encoding="utf-8") as handle:
            document = json.load(handle)
        change(document["messages"])
        with open(file, "w", encoding="utf-8") as handle:
            json.dump(document, handle)
        started = time.perf_counter()
        index.refresh_files(agent, [name])
        ensure_search(index.conn, copy)
        return (time.perf_counter() - started) * 1000

    said = "The order was shipped yesterday; the refund follows within a week."
    report: dict = {"sqlite": sqlite3.sqlite_version, "steps": steps}
    for label, change in (
        ("append", lambda messages: messages.append({"role": "user", "content": said})),
        (
            "rewrite first message",
            lambda messages: messages[0].update(content=messages[0]["content"] + " again"),
        ),
    ):
        before = size()
        times = [step(change) for _ in range(steps)]
        report[label] = {
            "median_ms": round(statistics.median(times), 2),
            "bytes_per_step": round((size() - before) / steps),
            "live_retired_rows": search_counts(index.conn),
        }
        print(json.dumps({label: report[label]}), flush=True)
    index.close()
    print(json.dumps(report))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("root")
    parser.add_argument("work")
    parser.add_argument("--appends", type=int, default=0)
    args = parser.parse_args()
    if args.appends:
        measure_appends(args.root, args.work, args.appends)
        return
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    sessions = tree_bytes(args.root)
    report = {"sqlite": sqlite3.sqlite_version, "session_bytes": sessions, "layouts": {}}
    for number, (label, columns) in enumerate(LAYOUTS.items()):
        path = os.path.join(args.work, f"layout-{number}.sqlite")
        seconds = build(args.root, path, columns, label)
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
