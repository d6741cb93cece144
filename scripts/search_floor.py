#!/usr/bin/env python3
"""The floor of building search data: one process reads every session file of ROOT (orjson),
inserts each message's text (mofa.searching.searchable_text) into a contentless FTS5 table of a
new SQLite file DB in one transaction, then runs FTS5's 'optimize'. No stat kept, no session
rows, no batching: what any full-text index of the same text must at least do.

    python scripts/search_floor.py ROOT DB
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterator

import orjson

from mofa.searching import searchable_text

TABLE = (
    "CREATE VIRTUAL TABLE floor USING fts5(text, content='',"
    " tokenize='unicode61 remove_diacritics 2', detail=full)"
)


def session_files(root: str) -> Iterator[str]:
    """Every session file: per-agent `<agent>/<id>.json` and MoFA's `<key>.jsonl` at the root."""
    for entry in os.scandir(root):
        if entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
            for inner in os.scandir(entry.path):
                if inner.name.endswith(".json") and inner.is_file(follow_symlinks=False):
                    yield inner.path
        elif entry.name.endswith(".jsonl") and entry.is_file(follow_symlinks=False):
            yield entry.path


def message_contents(path: str) -> list:
    with open(path, "rb") as handle:
        data = handle.read()
    if path.endswith(".jsonl"):
        return [orjson.loads(line).get("content") for line in data.split(b"\n")[1:] if line]
    document = orjson.loads(data)
    messages = document.get("messages") if isinstance(document, dict) else None
    if not isinstance(messages, list):
        return []
    return [item.get("content") for item in messages if isinstance(item, dict)]


def texts(root: str) -> Iterator[tuple[str]]:
    for path in session_files(root):
        for content in message_contents(path):
            yield (searchable_text(content),)


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: search_floor.py ROOT DB")
    root, db = sys.argv[1:]
    if os.path.exists(db):
        sys.exit(f"search_floor.py: {db} exists; give a path to a new file")
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.execute(TABLE)
        conn.executemany("INSERT INTO floor (text) VALUES (?)", texts(root))
        conn.execute("INSERT INTO floor (floor) VALUES ('optimize')")
        conn.execute("COMMIT")
    finally:
        conn.close()


if __name__ == "__main__":
    main()
