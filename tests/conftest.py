import os

import pytest

from tests.pg import pg_schema, pg_url, postgres_server  # noqa: F401  (fixtures)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """Every test gets its own sessions root, index and home: no test touches a real one."""
    for name in (
        "MOFA_INDEX_PATH",
        "MOFA_STORE",
        "NO_COLOR",
        "MOFA_DEBUG",
        "COLUMNS",
        "XDG_DATA_HOME",
    ):
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "sessions"
    root.mkdir()
    monkeypatch.setenv("MOFA_SESSIONS_DIR", str(root))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # No test starts a watcher by itself unless it asks to (tests/watch/test_autostart.py).
    monkeypatch.setenv("MOFA_AUTOSTART", "0")
    for name in ("MOFA_AUTOSTART_MIN_FILES", "MOFA_AUTOSTART_IDLE"):
        monkeypatch.delenv(name, raising=False)
    return root


@pytest.fixture
def root(isolated_env):
    return isolated_env


@pytest.fixture
def place(tmp_path):
    """A directory for tests that take permissions away (tests/cli/test_permissions.py::as_user):
    given back afterwards, so that pytest can remove it."""
    yield str(tmp_path)
    for directory, dirs, _files in os.walk(tmp_path):
        for name in dirs:
            os.chmod(os.path.join(directory, name), 0o755)


@pytest.fixture
def index_path(root):
    from indexer.index.location import resolve_index_path

    return resolve_index_path(str(root))
