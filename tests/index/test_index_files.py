"""The index files of the cache directory: `index status --all` lists them with their roots
and sizes, `index clean` removes those of roots that no longer exist and nothing else."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from tests.helpers import run, run_installed, write_session


def _indexed_root(tmp_path, name):
    root = tmp_path / name
    write_session(root, "agent", "s")
    assert run_installed("--sessions-dir", str(root), "session", "list").returncode == 0
    return root


def _catalog(*args):
    result = run_installed("session", "index", "status", "--all", "-f", "json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_status_all_lists_every_index_with_its_root_and_size(tmp_path, root):
    write_session(root, "agent", "s")
    run_installed("session", "list")
    kept, gone = _indexed_root(tmp_path, "kept"), _indexed_root(tmp_path, "gone")
    shutil.rmtree(gone)
    entries = {entry["root"]: entry for entry in _catalog()}
    assert set(entries) == {str(root), str(kept), str(gone)}
    assert entries[str(kept)]["root_exists"] and not entries[str(gone)]["root_exists"]
    assert all(entry["size_bytes"] > 0 for entry in entries.values())
    table = run_installed("session", "index", "status", "--all")
    assert table.returncode == 0 and str(gone) in table.stdout
    assert "1 index of removed roots" in table.stderr and "index clean" in table.stderr


def test_clean_removes_only_the_indexes_of_roots_that_are_gone(tmp_path, root):
    write_session(root, "agent", "s")
    run_installed("session", "list")
    kept, gone = _indexed_root(tmp_path, "kept"), _indexed_root(tmp_path, "gone")
    gone_index = next(e["path"] for e in _catalog() if e["root"] == str(gone))
    unrelated = os.path.join(os.path.dirname(gone_index), "notes.txt")
    with open(unrelated, "w") as handle:
        handle.write("mine")
    shutil.rmtree(gone)
    cleaned = run_installed("session", "index", "clean")
    assert cleaned.returncode == 0, cleaned.stderr
    assert "✓ Removed 1 index of removed roots" in cleaned.stderr
    assert not any(
        name.startswith(os.path.basename(gone_index))
        for name in os.listdir(os.path.dirname(gone_index))
    )
    assert {entry["root"] for entry in _catalog()} == {str(root), str(kept)}
    assert Path(unrelated).read_text() == "mine"
    assert (
        run_installed("--sessions-dir", str(kept), "session", "list", "-f", "json").stdout.count(
            "agent:s"
        )
        == 1
    )
    again = run_installed("session", "index", "clean")
    assert "✓ Removed 0 indexes" in again.stderr


def test_no_index_files_yet(tmp_path):
    result = run_installed("session", "index", "status", "--all")
    assert result.returncode == 0 and "No index files." in result.stdout


def test_stop_without_a_watcher_says_so(root):
    write_session(root, "agent", "s")
    result = run("session", "index", "stop")
    assert result.exit_code == 0 and "No mofa-indexd watches this root" in result.stderr


def test_index_commands_on_a_database_store_say_it_keeps_no_index_files(pg_url):
    for args in (("index", "clean"), ("index", "stop"), ("index", "status", "--all")):
        result = run("--store", pg_url, "session", *args)
        assert result.exit_code == 2, args
        assert result.stderr.splitlines()[-1].startswith("Error:")
