"""Bulk writes with mofa-indexd running: one handshake per command, not one per session."""

from __future__ import annotations

import pytest

from tests.daemon_helpers import RunningDaemon
from tests.helpers import listed_ids, run_installed, write_jsonl, write_session

CONFIRMED = "mofa-indexd confirmed the index"


@pytest.fixture
def daemon(root, index_path):
    running = RunningDaemon(root, index_path)
    running.wait_for_log("watching")
    yield running
    assert running.stop() == 0, running.drain()


def _mofa(root, *args, input=None):
    return run_installed("--sessions-dir", str(root), "-v", *args, input=input)


def _fill(root, count: int = 20) -> set[str]:
    ids = set()
    for number in range(count):
        write_session(root, f"agent-{number % 3}", f"s{number:02d}")
        ids.add(f"agent-{number % 3}:s{number:02d}")
    for number in range(5):
        write_jsonl(root, f"mofa:key-{number}")
        ids.add(f"mofa:key-{number}")
    return ids


def _listed(root) -> set[str]:
    result = _mofa(root, "session", "list", "-n", "1000", "-o", "json")
    assert result.returncode == 0, result.stderr
    return set(listed_ids(result))


def test_import_with_the_watcher_running_does_one_handshake(daemon, root, tmp_path):
    ids = _fill(tmp_path / "source")

    result = _mofa(root, "session", "import", "--from-dir", str(tmp_path / "source"))

    assert result.returncode == 0, result.stderr
    assert result.stderr.count(CONFIRMED) == 1, result.stderr
    assert "Imported 25 sessions" in result.stderr
    assert _listed(root) == ids
    assert _mofa(root, "session", "index", "verify").returncode == 0


def test_an_import_finds_the_sessions_it_stored_itself(daemon, root, tmp_path):
    """The second copy of a session stored earlier in the same command is unchanged, though
    the watcher may not have indexed the file yet."""
    write_jsonl(tmp_path / "source", "mofa:key")
    write_session(tmp_path / "source", "agent", "s")
    exports = []
    for session_id in ("mofa:key", "agent:s"):
        for copy in ("first", "second"):
            path = tmp_path / "exports" / f"{session_id.replace(':', '-')}-{copy}.json"
            exported = _mofa(tmp_path / "source", "session", "export", session_id, "-o", str(path))
            assert exported.returncode == 0, exported.stderr
            exports.append(str(path))

    result = _mofa(root, "session", "import", *exports)

    assert result.returncode == 0, result.stderr
    assert "Imported 2 sessions (0 replaced, 2 unchanged)" in result.stderr
    assert result.stderr.count(CONFIRMED) == 1, result.stderr
    assert _listed(root) == {"mofa:key", "agent:s"}


def test_prune_with_the_watcher_running_does_one_handshake(daemon, root):
    _fill(root)

    result = _mofa(root, "session", "prune", "--before", "2030-01-01", "--force")

    assert result.returncode == 0, result.stderr
    assert result.stderr.count(CONFIRMED) == 1, result.stderr
    assert _listed(root) == set()


def test_deleting_many_ids_with_the_watcher_running_does_one_handshake(daemon, root):
    ids = sorted(_fill(root))

    result = _mofa(root, "session", "delete", "--force", "-", input="\n".join(ids[:-1]) + "\n")

    assert result.returncode == 0, result.stderr
    assert result.stderr.count(CONFIRMED) == 1, result.stderr
    assert _listed(root) == {ids[-1]}
