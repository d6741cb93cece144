"""`export -o`: never into the sessions root; into devices and FIFOs; files keep their mode."""

from __future__ import annotations

import json
import os
import stat
import subprocess

import pytest

from tests.helpers import message, run, run_installed, write_session


@pytest.fixture
def session_file(root):
    return write_session(root, "agent", "s1", [message("user", "Hello")])


def _inside_root_paths(root, tmp_path):
    link = tmp_path / "link-to-root"
    link.symlink_to(root)
    return {
        "the session file itself": str(root / "agent" / "s1.json"),
        "a new file in an agent directory": str(root / "agent" / "new.json"),
        "a new agent directory": str(root / "newagent" / "s.json"),
        "a JSONL file at the top": str(root / "new.yaml"),
        "through a symlink to the root": str(link / "agent" / "s1.json"),
        "through ..": str(tmp_path / "elsewhere" / ".." / root.name / "agent" / "s1.json"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "the session file itself",
        "a new file in an agent directory",
        "a new agent directory",
        "a JSONL file at the top",
        "through a symlink to the root",
        "through ..",
    ],
)
def test_a_path_inside_the_root_is_refused(root, tmp_path, session_file, case):
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    original = session_file.read_bytes()
    output = _inside_root_paths(root, tmp_path)[case]
    result = run("session", "export", "agent:s1", "-o", output, "-f", "json")
    assert result.exit_code == 2, result.stderr
    assert "inside the sessions root" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert session_file.read_bytes() == original
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    assert json.loads(run("session", "list", "-f", "json").stdout)[0]["session_id"] == "agent:s1"


def test_a_relative_path_from_inside_the_root_is_refused(root, session_file, monkeypatch):
    original = session_file.read_bytes()
    monkeypatch.chdir(root / "agent")
    result = run("session", "export", "agent:s1", "-o", "s1.json")
    assert result.exit_code == 2
    assert session_file.read_bytes() == original


def _null_device(tmp_path):
    """A character device that discards writes: our own node when we may make one (as root,
    where the old code's rename would have replaced even /dev/null), else /dev/null."""
    node = tmp_path / "null-device"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, OSError):
        return "/dev/null"
    return str(node)


def test_a_device_is_written_into_never_replaced(root, tmp_path, session_file):
    device = _null_device(tmp_path)
    result = run_installed("session", "export", "agent:s1", "-o", device, "-f", "json")
    assert result.returncode == 0, result.stderr
    assert "Session exported successfully" in result.stderr
    assert stat.S_ISCHR(os.stat(device).st_mode)
    assert not [p for p in os.listdir(os.path.dirname(device)) if p.startswith(".mofa-export-")]


def test_dev_null_works_and_stays_a_device(root, tmp_path, session_file):
    if os.geteuid() == 0:  # the old code would rename a file over the machine's /dev/null
        pytest.skip("covered by test_a_device_is_written_into_never_replaced as root")
    result = run_installed("session", "export", "agent:s1", "-o", "/dev/null", "-f", "yaml")
    assert result.returncode == 0, result.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_symlink_to_a_device_is_written_through(root, tmp_path, session_file):
    device = _null_device(tmp_path)
    link = tmp_path / "out.json"
    link.symlink_to(device)
    result = run_installed("session", "export", "agent:s1", "-o", str(link))
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == device
    assert stat.S_ISCHR(os.stat(device).st_mode)


def test_a_fifo_is_written_into(root, tmp_path, session_file):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    try:
        result = run_installed("session", "export", "agent:s1", "-o", str(fifo), timeout=60)
        received, _ = reader.communicate(timeout=30)
    finally:
        if reader.poll() is None:
            reader.kill()
        reader.wait()
        reader.stdout.close()
    assert result.returncode == 0, result.stderr
    assert json.loads(received)["session_id"] == "agent:s1"
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o444])
def test_an_existing_file_keeps_its_permissions(root, tmp_path, session_file, mode):
    output = tmp_path / "out" / "session.json"
    output.parent.mkdir()
    output.write_text("old content")
    os.chmod(output, mode)
    result = run("session", "export", "agent:s1", "-o", str(output))
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(os.stat(output).st_mode) == mode
    assert json.loads(output.read_text())["session_id"] == "agent:s1"


def test_a_symlink_to_a_regular_file_stays_a_symlink(root, tmp_path, session_file):
    target = tmp_path / "real.json"
    target.write_text("old")
    os.chmod(target, 0o600)
    link = tmp_path / "link.json"
    link.symlink_to(target)
    result = run("session", "export", "agent:s1", "-o", str(link))
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink()
    assert json.loads(target.read_text())["session_id"] == "agent:s1"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600


def test_a_new_file_gets_the_umask_mode(root, tmp_path, session_file):
    output = tmp_path / "deep" / "er" / "new.yaml"
    previous = os.umask(0o027)
    try:
        result = run("session", "export", "agent:s1", "-o", str(output))
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(os.stat(output).st_mode) == 0o640
