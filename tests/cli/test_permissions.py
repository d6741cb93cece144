"""Unreadable files and directories, read-only roots, symlinked roots.

Permissions mean nothing to root, and CI runs as root: there the commands run without the
capabilities that let root ignore file modes (setpriv drops them from the bounding set).
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import BIN, listed_ids, run, write_session

DROP = "-dac_override,-dac_read_search,-fowner"


def as_user(place, *args, input=None):
    """Run the installed `mofa` as a user whom file modes bind."""
    env = dict(os.environ, XDG_CACHE_HOME=os.path.join(place, "cache"), HOME=place)
    env.pop("MOFA_INDEX_PATH", None)
    command = [str(BIN / "mofa"), *args]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: file modes cannot bind here")
        command = ["setpriv", f"--bounding-set={DROP}", f"--inh-caps={DROP}", *command]
    return subprocess.run(
        command, input=input, env=env, capture_output=True, text=True, timeout=120
    )


def test_unreadable_session_file(place):
    root = os.path.join(place, "sessions")
    write_session(Path(root), "agent", "good")
    secret = write_session(Path(root), "agent", "secret")
    os.chmod(secret, 0o000)
    listing = as_user(place, "--sessions-dir", root, "session", "list", "-f", "json")
    assert listing.returncode == 0, listing.stderr
    assert [r["session_id"] for r in json.loads(listing.stdout)] == ["agent:good"]
    assert listing.stderr.strip() == f"warning: permission denied: {secret}"
    shown = as_user(place, "--sessions-dir", root, "session", "show", "agent:secret")
    assert (shown.returncode, shown.stderr.strip()) == (2, f"Error: permission denied: {secret}")


def test_unreadable_agent_directory(place):
    root = Path(place) / "sessions"
    write_session(root, "open", "s")
    write_session(root, "closed", "s")
    os.chmod(root / "closed", 0o000)
    listing = as_user(place, "--sessions-dir", str(root), "session", "list", "-f", "json")
    assert listing.returncode == 0, listing.stderr
    assert [r["session_id"] for r in json.loads(listing.stdout)] == ["open:s"]
    assert f"permission denied: {root / 'closed'}" in listing.stderr
    assert "Traceback" not in listing.stderr


def test_read_only_root_lists_but_delete_is_status_2(place):
    root = Path(place) / "sessions"
    path = write_session(root, "agent", "s")
    os.chmod(root / "agent", 0o555)
    os.chmod(root, 0o555)
    listing = as_user(place, "--sessions-dir", str(root), "session", "list", "-f", "json")
    assert [r["session_id"] for r in json.loads(listing.stdout)] == ["agent:s"]
    deleted = as_user(place, "--sessions-dir", str(root), "session", "delete", "agent:s", "--force")
    assert deleted.returncode == 2
    assert deleted.stderr.splitlines()[-1] == f"Error: permission denied: cannot delete {path}"
    assert path.exists()


def test_unreadable_root(place):
    root = os.path.join(place, "sessions")
    os.makedirs(root, exist_ok=True)
    os.chmod(root, 0o000)
    listing = as_user(place, "--sessions-dir", root, "session", "list")
    assert listing.returncode == 2
    assert listing.stderr.splitlines()[-1] == f"Error: permission denied: {root}"


def test_sessions_root_that_is_a_symlink(root, tmp_path):
    write_session(root, "agent", "s")
    link = tmp_path / "link"
    link.symlink_to(root)
    assert listed_ids(run("--sessions-dir", str(link), "session", "list", "-f", "json")) == [
        "agent:s"
    ]
    assert run("--sessions-dir", str(link), "session", "show", "s").exit_code == 0
    assert run("--sessions-dir", str(link), "session", "delete", "s", "--force").exit_code == 0
    assert not (root / "agent" / "s.json").exists()


def test_symlinks_inside_the_root_are_not_followed(root, tmp_path):
    outside = tmp_path / "outside"
    write_session(outside, "agent", "victim")
    (root / "linked-agent").symlink_to(outside / "agent")
    (root / "agent").mkdir()
    (root / "agent" / "link.json").symlink_to(outside / "agent" / "victim.json")
    assert listed_ids(run("session", "list", "-f", "json")) == []
    for wanted in ("linked-agent:victim", "agent:link"):
        assert run("session", "delete", wanted, "--force").exit_code == 1
    assert (outside / "agent" / "victim.json").exists()
