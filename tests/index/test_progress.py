"""The first build of a big tree and `index rebuild` draw a progress bar on a terminal only."""

import os
import pty
import subprocess

from tests.helpers import BIN


def many_sessions(root, count=1500):
    for number in range(count):
        directory = root / f"agent-{number % 3}"
        directory.mkdir(exist_ok=True)
        (directory / f"s{number:04d}.json").write_text('{"messages": []}')


def run_with_terminal_stderr(*args) -> tuple[int, str, str]:
    """Run the installed mofa with stderr on a pseudo-terminal; return (status, stdout, tty)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([str(BIN / "mofa"), *args], stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # EIO: the terminal's other side closed
            break
        if not data:
            break
        chunks.append(data)
    stdout = process.stdout.read().decode()
    process.stdout.close()
    os.close(leader)
    return process.wait(timeout=120), stdout, b"".join(chunks).decode("utf-8", "replace")


def test_first_build_shows_a_progress_bar_on_a_terminal(root):
    many_sessions(root)
    status, stdout, terminal = run_with_terminal_stderr(
        "session", "list", "--limit", "1", "-f", "json"
    )
    assert status == 0
    assert "Indexing sessions" in terminal and "100%" in terminal
    assert "Indexing" not in stdout


def test_rebuild_shows_a_progress_bar_and_pipes_get_none(root):
    many_sessions(root)
    status, _, terminal = run_with_terminal_stderr("session", "index", "rebuild")
    assert status == 0
    assert "Rebuilding the index" in terminal and "100%" in terminal
    piped = subprocess.run(
        [str(BIN / "mofa"), "session", "index", "rebuild"], capture_output=True, text=True
    )
    assert "Rebuilding the index  [" not in piped.stderr
    assert "✓ Indexed 1500 sessions" in piped.stderr
