"""A sessions root that is not there; escaped names in `verify`; a short id of many sessions."""

from __future__ import annotations

import json
import os

import pytest

from tests.helpers import run, run_installed, write_session


def _index_files(tmp_path) -> list[str]:
    cache = tmp_path / "cache"
    return sorted(str(p) for p in cache.rglob("*")) if cache.exists() else []


@pytest.mark.parametrize("how", ["option", "variable"])
@pytest.mark.parametrize(
    "command",
    [
        ["session", "list"],
        ["session", "list", "-f", "json"],
        ["session", "show", "a:s"],
        ["session", "query", "SELECT 1"],
        ["session", "index", "rebuild"],
    ],
)
def test_a_mistyped_root_is_an_error_and_leaves_no_index(tmp_path, how, command):
    missing = tmp_path / "sesions"
    if how == "option":
        result = run_installed("--sessions-dir", str(missing), *command)
    else:
        result = run_installed(*command, env={"MOFA_SESSIONS_DIR": str(missing)})
    assert result.returncode == 1, result.stderr
    assert f"Error: the sessions root {missing} does not exist" in result.stderr
    assert result.stdout == ""
    assert _index_files(tmp_path) == []


@pytest.fixture
def default_root(tmp_path, monkeypatch):
    """No MOFA_SESSIONS_DIR: the default root under XDG_DATA_HOME, not made yet."""
    monkeypatch.delenv("MOFA_SESSIONS_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data" / "mofa" / "sessions"


def test_the_default_root_missing_is_no_sessions_yet(tmp_path, default_root):
    table = run_installed("session", "list")
    assert (table.returncode, table.stdout) == (0, "No sessions found.\n")
    hints = [line for line in table.stderr.splitlines() if str(default_root) in line]
    assert hints == [f"mofa: no sessions yet: {default_root} does not exist"]
    listed = run_installed("session", "list", "-f", "json")
    assert (listed.returncode, listed.stdout) == (0, "[]\n")
    assert listed.stderr == f"mofa: no sessions yet: {default_root} does not exist\n"
    queried = run_installed("session", "query", "SELECT count(*) AS n FROM sessions", "-f", "json")
    assert (queried.returncode, json.loads(queried.stdout)) == (0, [{"n": 0}])
    shown = run_installed("session", "show", "a:s")
    assert shown.returncode == 1
    assert _index_files(tmp_path) == []
    assert not default_root.exists()


def test_verify_prints_file_names_escaped(root):
    write_session(root, "a", "s1")
    run("session", "list")
    # A MoFA file may have any name (its key is in its header); per-agent names no id can
    # name are left out of the index, and out of verify, with a warning.
    evil = root / "\x1b]0;pwned\x07title.jsonl"
    evil.write_text(json.dumps({"key": "k:1", "created_at": "2024-02-28T10:30:00+00:00"}))
    result = run("session", "index", "verify")
    assert result.exit_code == 1
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "missing: " in result.stdout and "\\x1b]0;pwned\\x07title.jsonl" in result.stdout


def test_an_ambiguous_short_id_lists_ten_ids_and_how_many_more(root):
    for number in range(25):
        write_session(root, f"agent-{number:02d}", "shared")
    result = run("session", "show", "shared")
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    named = [
        f"agent-{number:02d}:shared"
        for number in range(25)
        if f"agent-{number:02d}:shared" in result.stderr
    ]
    assert len(named) == 10
    assert result.stderr.rstrip().endswith("and 15 more")


def test_an_ambiguous_short_id_of_few_sessions_names_them_all(root):
    write_session(root, "a", "shared")
    write_session(root, "b", "shared")
    result = run("session", "show", "shared")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: session id 'shared' is ambiguous; use one of: a:shared, b:shared\n",
    )


def test_commands_close_the_index(root):
    """Python 3.13 warns of a connection left open; the suite runs warnings as errors, and
    here the command runs with ResourceWarning as an error and a collection after it."""
    import gc
    import warnings

    write_session(root, "a", "s1")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        for command in (
            ["session", "list"],
            ["session", "show", "a:s1"],
            ["session", "index", "status"],
            ["session", "query", "SELECT 1"],
            ["session", "index", "verify"],
        ):
            assert run(*command).exit_code == 0
            gc.collect()
    assert os.path.exists(run("session", "index", "path").stdout.strip())
