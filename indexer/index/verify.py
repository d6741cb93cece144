"""Comparing the index with the files: rows missing, extra, or stale (not what the file says)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from indexer.build.refresh import parse_all
from indexer.index.rows import BadRow, IndexRow, columns
from mofa import tree
from mofa.stores.results import Problem, VerifyReport

if TYPE_CHECKING:
    from indexer.index.session_index import SessionIndex

# What a file says and its row must agree on.
COMPARED = (
    "session_id",
    "agent",
    "name",
    "created_at",
    "updated_at",
    "message_count",
    "status",
    "user_id",
)


def verify(index: SessionIndex, root: str, progress=None) -> VerifyReport:
    """Every file is read and compared with its row."""
    # What the refresh leaves out (unreadable directories, names that are not UTF-8) is not
    # in the index either: not a problem to report.
    places = tree.session_files(root, skipped=[])
    jobs = [(root, directory, stat) for directory, files in places for stat in files]
    stored: dict[tuple[str, str], IndexRow | BadRow] = {}
    for indexed in map(IndexRow._make, index.select(f"SELECT {columns(IndexRow)} FROM sessions")):
        stored[(indexed.dir, indexed.file)] = indexed
    for bad in map(BadRow._make, index.select(f"SELECT {columns(BadRow)} FROM bad_files")):
        stored[(bad.dir, bad.file)] = bad
    problems = []
    for directory, name, parsed in parse_all(jobs, progress):
        row = stored.pop((directory, name), None)
        path = os.path.join(root, directory, name) if directory else os.path.join(root, name)
        if parsed.row is None and parsed.error is None:
            if row is not None:
                stored[(directory, name)] = row  # vanished while verifying: extra below
            continue
        if row is None:
            problems.append(Problem("missing", path, "not in the index"))
        elif parsed.error is not None:
            if type(row) is IndexRow:
                problems.append(
                    Problem("stale", path, f"unreadable ({parsed.error}), indexed as a session")
                )
        elif isinstance(row, BadRow):
            if row.duplicate_of is None:
                problems.append(
                    Problem("stale", path, f"readable, indexed as unreadable ({row.error})")
                )
            else:
                problems.append(
                    Problem(
                        "duplicate",
                        path,
                        f"session id {row.duplicate_of!r} is also"
                        " claimed by the listed file; this one is left out",
                    )
                )
        else:
            differences = [
                f"{column}: index {getattr(row, column)!r}, file {getattr(parsed.row, column)!r}"
                for column in COMPARED
                if getattr(row, column) != getattr(parsed.row, column)
            ]
            if differences:
                problems.append(Problem("stale", path, "; ".join(differences)))
    for row in stored.values():
        problems.append(Problem("extra", row.path, "indexed, but no such session file"))
    problems.sort(key=lambda problem: (problem.where, problem.kind))
    return VerifyReport(len(jobs), problems)
