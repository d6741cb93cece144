"""Whether the index is current for a listing, told from the directories' stat digests alone.

A command without mofa-indexd must stat what it lists; most of the time nothing changed, and
then it needs neither the parser nor the writer (`indexer.build.refresh`, the row types, the write
transactions): importing those cost a listing about 4 % of its start-up. `survey`
scans as `Refresher.refresh` would and compares each digest with the one stored; when one
differs it stops, and the refresh takes over with what was scanned, so no directory is read
twice but the one that differed.
"""

# No `from __future__ import annotations`: NamedTuple turns each string annotation into a
# compiled ForwardRef, twice the cost of defining the class on every command's start-up.

import os
import sqlite3
import time
from typing import NamedTuple

from mofa import tree
from mofa.errors import MofaError


class RefreshResult(NamedTuple):
    changed: int
    warnings: list
    files: int = 0  # session files stat-ed (what decides mofa-indexd's auto-start)


class Survey(NamedTuple):
    """What `survey` scanned: the root (and when its scan began) and the directories it found
    as the index last saw them, with their session files counted."""

    state: dict  # dir -> (digest, generation), as stored when the survey began
    root_start: int
    root: "tree.DirScan | None"
    unchanged: dict  # dir -> its session files
    warnings: list


def stored_state(conn: sqlite3.Connection) -> dict:
    """dir -> (digest, generation)."""
    return {
        directory: (digest, generation)
        for directory, digest, generation in conn.execute(
            "SELECT dir, digest, generation FROM dirs"
        )
    }


def listed_directories(root: "tree.DirScan | None", agent, state: dict) -> list:
    """The directories a refresh for `agent` (every agent when None) covers, the root's "" last:
    an agent's own (only a name that can be an agent directory: `--agent ../x` reads nothing),
    or every agent directory on disk and then every one the index knows that is gone."""
    if agent is None:
        directories = list(root.agents) if root is not None else []
    else:
        directories = [agent] if tree.is_agent_name(agent) else []
    directories.append("")
    if agent is None:
        on_disk = set(directories)
        directories.extend(sorted(d for d in state if d not in on_disk))
    return directories


def survey(conn: sqlite3.Connection, root: str, agent) -> "RefreshResult | Survey":
    """A RefreshResult (nothing changed) when every directory listing `agent` needs has the
    digest stored for it; else the Survey for `Refresher.refresh` to go on from."""
    state = stored_state(conn)
    warnings: list = []
    root_start = time.time_ns()
    root_digest = state.get("", (None, None))[0]
    # An unreadable root raises here as in the refresh; stat keys kept where no digest can match.
    root_scan = tree.scan_dir(root, False, warnings, root_digest is None)
    unchanged: dict = {}
    taken_over = Survey(state, root_start, root_scan, unchanged, warnings)
    if root_scan is None or root_digest is None:
        return taken_over
    files = len(root_scan.names)
    for directory in listed_directories(root_scan, agent, state):
        if directory == "":
            if root_scan.digest != root_digest:
                return taken_over
            continue
        digest = state.get(directory, (None, None))[0]
        if digest is None:
            return taken_over  # new, gone, or written while racy: the refresh decides
        try:
            scan = tree.scan_dir(os.path.join(root, directory), True, warnings)
        except Exception as error:
            if not isinstance(error, (MofaError, OSError)):
                raise
            scan = None  # unreadable: the refresh says so
        if scan is None or scan.digest != digest:
            return taken_over  # the refresh scans it again (and says each warning once)
        unchanged[directory] = len(scan.names)
        files += len(scan.names)
    return RefreshResult(0, warnings, files)
