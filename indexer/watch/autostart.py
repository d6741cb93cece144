"""Starting mofa-indexd for a big root by itself, as Watchman and git's fsmonitor do.

A command that had to stat at least MOFA_AUTOSTART_MIN_FILES session files (20,000; the check is
in indexer/store.py, so that a small root never imports this) without a watcher starts one for
its root in the background, so that every later command takes the handshake path. The watcher it
starts exits after MOFA_AUTOSTART_IDLE seconds (3600) without a command; one started by a user
never does. MOFA_AUTOSTART=0 turns this off. One watcher per root, whoever started it: a second
one finds the lock taken and exits at once.
"""

from __future__ import annotations

import os
import sys

from indexer.index.private import open_own_file

DEFAULT_IDLE_S = 3600.0


def _number(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


def idle_seconds() -> float:
    return _number("MOFA_AUTOSTART_IDLE", DEFAULT_IDLE_S)


def log_path(index_path: str) -> str:
    return index_path + ".indexd.log"


def _program() -> list[str]:
    # The mofa-indexd installed beside this interpreter (a virtualenv's, pipx's), else the
    # same code through this interpreter.
    script = os.path.join(os.path.dirname(sys.executable), "mofa-indexd")
    if os.access(script, os.X_OK):
        return [script]
    return [sys.executable, "-m", "indexer.watch.daemon"]


def start(root: str, index_path: str) -> int:
    """Start mofa-indexd for `root` and `index_path` in the background, detached (its own
    session; stdin and stdout /dev/null; stderr appended to a log file beside the index).
    Returns its pid. posix_spawn (vfork and exec) costs the command about a millisecond, where
    subprocess would import a dozen modules first."""
    idle = idle_seconds()
    argv = _program() + ["--sessions-dir", root, "--index", index_path, "--idle-exit", f"{idle:g}"]

    # Opened here, not by the spawn: never appended to through a symlink or another's file.
    log = open_own_file(log_path(index_path), os.O_WRONLY | os.O_APPEND)
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_DUP2, log, 2),
    ]
    try:
        return os.posix_spawn(argv[0], argv, os.environ, file_actions=actions, setsid=True)
    finally:
        os.close(log)
