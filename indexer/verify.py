"""Comparing the index with the files: rows missing, extra, or stale (not what the file says)."""

from __future__ import annotations

import os
from typing import NamedTuple

from indexer.refresh import parse_all
from mofa import tree

_COMPARED = ("session_id", "agent", "name", "created_at", "updated_at", "message_count",
             "status", "user_id")


class Problem(NamedTuple):
    kind: str  # missing | extra | stale
    path: str
    detail: str


def verify(conn, root: str, progress=None) -> tuple[int, list[Problem]]:
    """(session files examined, problems); every file is read and compared with its row."""
    # What the refresh leaves out (unreadable directories, names that are not UTF-8) is not
    # in the index either: not a problem to report.
    places = tree.session_files(root, skipped=[])
    jobs = [(root, directory, stat) for directory, files in places for stat in files]
    rows = {}
    for row in conn.execute(f"SELECT dir, file, {', '.join(_COMPARED)}, path FROM sessions"):
        rows[(row[0], row[1])] = ("session", row[2:10], row[10])
    for directory, name, error, path in conn.execute("SELECT dir, file, error, path FROM bad_files"):
        rows[(directory, name)] = ("bad", error, path)
    problems = []
    for directory, name, parsed in parse_all(jobs, progress):
        stored = rows.pop((directory, name), None)
        path = os.path.join(root, directory, name) if directory else os.path.join(root, name)
        if parsed.row is None and parsed.error is None:
            if stored is not None:
                rows[(directory, name)] = stored  # vanished while verifying: extra below
            continue
        if stored is None:
            problems.append(Problem("missing", path, "not in the index"))
        elif parsed.error is not None:
            if stored[0] != "bad":
                problems.append(Problem("stale", path, f"unreadable ({parsed.error}), indexed as a session"))
        elif stored[0] == "bad":
            if stored[2] is None or "also used by" not in stored[1]:
                problems.append(Problem("stale", path, f"readable, indexed as unreadable ({stored[1]})"))
        else:
            expected = parsed.row[:8]
            differences = [f"{column}: index {old!r}, file {new!r}"
                           for column, old, new in zip(_COMPARED, stored[1], expected) if old != new]
            if differences:
                problems.append(Problem("stale", path, "; ".join(differences)))
    for (directory, name), stored in rows.items():
        problems.append(Problem("extra", stored[2], "indexed, but no such session file"))
    problems.sort(key=lambda problem: (problem.path, problem.kind))
    return len(jobs), problems

