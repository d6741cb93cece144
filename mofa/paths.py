"""Where the sessions root is: the first of --sessions-dir, MOFA_SESSIONS_DIR, XDG_DATA_HOME,
~/.local/share (on macOS, ~/Library/Application Support, as MoFA)."""

from __future__ import annotations

import os
import sys

from mofa.errors import RefusedPath, SessionsRootMissing


def default_sessions_root(environ=os.environ) -> str:
    configured = environ.get("MOFA_SESSIONS_DIR")
    if configured:
        return configured
    if sys.platform == "darwin":  # where MoFA keeps them on macOS (its data_local_dir)
        return os.path.join(
            os.path.expanduser("~"), "Library", "Application Support", "mofa", "sessions"
        )
    data_home = environ.get("XDG_DATA_HOME")
    if data_home and os.path.isabs(data_home):
        return os.path.join(data_home, "mofa", "sessions")
    return os.path.join(os.path.expanduser("~"), ".local", "share", "mofa", "sessions")


def resolve_sessions_root(option: str | None, environ=os.environ) -> str:
    """The absolute sessions root; the directory need not exist."""
    return os.path.abspath(os.path.expanduser(option or default_sessions_root(environ)))


def sessions_root_exists(root: str, explicit: bool) -> bool:
    """Whether `root` is there to read. A root named explicitly (--sessions-dir,
    MOFA_SESSIONS_DIR) that is not is a mistake: SessionsRootMissing. The default root
    missing only means that no session was written yet: False."""
    if os.path.isdir(root):
        return True
    if explicit:
        raise SessionsRootMissing(
            f"the sessions root {root} does not exist"
            " (given by --sessions-dir or MOFA_SESSIONS_DIR)"
        )
    return False


def check_outside_root(output: str, root: str | None) -> None:
    """Refuse (RefusedPath) an output inside the sessions root, however it is named: through
    symlinks, `..`, or another mount of the same directory; the file need not exist yet. A
    store with no root (a database) has nothing to protect here."""
    if output == "-" or root is None:
        return
    real = os.path.realpath(output)
    real_root = os.path.realpath(root)
    inside = real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)
    if not inside:
        try:
            root_stat = os.stat(real_root)
        except OSError:
            return  # no root: nothing to protect
        probe = os.path.dirname(real)
        while not inside:
            try:
                st = os.stat(probe)
                inside = (st.st_dev, st.st_ino) == (root_stat.st_dev, root_stat.st_ino)
            except OSError:
                pass
            parent = os.path.dirname(probe)
            if parent == probe:
                break
            probe = parent
    if inside:
        raise RefusedPath(
            f"refusing to write {output}: it is inside the sessions root {root}"
            " (an export never overwrites or creates a session)"
        )
