"""A command without the watcher first looks for changes by stat digests alone
(indexer.build.freshness): when nothing changed the index answers as it is; when something did,
the refresh goes on from what the look scanned, reading no directory twice but the one that
differed."""

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from indexer.build import freshness
from indexer.build.freshness import RefreshResult, Survey, survey
from indexer.build.refresh import RACY_NS
from indexer.index.session_index import SessionIndex
from mofa import tree
from tests.cli.test_permissions import as_user
from tests.helpers import listed_ids, message, run_installed, write_jsonl, write_session


@pytest.fixture
def indexed(root, tmp_path):
    """Agents a, b, c with two sessions each and one JSONL file, indexed, older than the racy
    window (a stat too recent to trust keeps no digest, and the next command reads it again)."""
    for agent in "abc":
        for name in ("s1", "s2"):
            write_session(root, agent, name)
    write_jsonl(root, "d:k")
    time.sleep(RACY_NS / 1e9 * 2)
    index = SessionIndex(str(root), str(tmp_path / "index.sqlite3"))
    index.refresh()
    time.sleep(RACY_NS / 1e9 * 2)
    index.refresh()  # now with every digest stored
    yield index
    index.close()


@pytest.fixture
def scans(monkeypatch):
    """The directories `tree.scan_dir` reads, in order (the real scan runs)."""
    seen = []
    real = tree.scan_dir

    def counting(path, *args, **kwargs):
        seen.append(os.path.basename(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(tree, "scan_dir", counting)
    return seen


def test_nothing_changed_is_told_from_the_digests(indexed, root, scans):
    seen = survey(indexed.conn, str(root), None)
    assert seen == RefreshResult(0, [], 7)  # six per-agent files and one JSONL file
    assert sorted(scans) == ["a", "b", "c", "sessions"]
    scans.clear()
    assert survey(indexed.conn, str(root), "b") == RefreshResult(0, [], 3)
    assert sorted(scans) == ["b", "sessions"]


def test_the_files_it_counts_are_the_refreshs(indexed, root):
    """What decides mofa-indexd's auto-start does not depend on which path answered."""
    from indexer.build.refresh import Refresher

    for agent in (None, "a"):
        assert (
            survey(indexed.conn, str(root), agent).files
            == Refresher(indexed.conn, str(root)).refresh(agent).files
        )


def test_a_change_hands_over_what_was_scanned(indexed, root, scans):
    time.sleep(0.01)
    write_session(root, "b", "s3")
    result = indexed.refresh()
    assert result.changed == 1 and result.files == 8
    # a was found unchanged and is not read again; b differed: read by the look, then the refresh.
    assert scans.count("a") == 1 and scans.count("c") == 1 and scans.count("sessions") == 1
    assert scans.count("b") == 2
    assert "b:s3" in {row.session_id for row in indexed.list_rows(freshness_filter())}


def test_a_change_in_the_root_hands_over_its_scan(indexed, root, scans):
    write_jsonl(root, "d:k2")
    result = indexed.refresh()
    assert result.changed == 1
    assert scans.count("sessions") == 1


def test_a_gone_directory_drops_its_sessions(indexed, root):
    shutil.rmtree(root / "c")
    seen = survey(indexed.conn, str(root), None)
    assert type(seen) is Survey and "c" not in seen.unchanged
    result = indexed.refresh()
    assert result.changed == 2
    assert not [row for row in indexed.list_rows(freshness_filter()) if row.agent == "c"]


def test_a_new_agent_is_refreshed(indexed, root):
    write_session(root, "e", "s1")
    assert type(survey(indexed.conn, str(root), None)) is Survey
    assert indexed.refresh().changed == 1


def test_an_agent_never_indexed_is_looked_at_by_the_refresh(indexed, root):
    seen = survey(indexed.conn, str(root), "nosuch")
    assert type(seen) is Survey
    assert indexed.refresh("nosuch") == RefreshResult(0, [], 1)


def test_a_directory_made_unreadable_is_left_out_with_a_warning(place):
    """The look cannot read it: the refresh says so and leaves its sessions out, as before."""
    root = os.path.join(place, "sessions")
    for agent in "ab":
        write_session(Path(root), agent, "s1")
    time.sleep(RACY_NS / 1e9 * 2)
    for _ in range(2):  # indexed, then with every digest stored
        assert as_user(place, "--sessions-dir", root, "session", "list").returncode == 0
        time.sleep(RACY_NS / 1e9 * 2)
    os.chmod(os.path.join(root, "b"), 0)
    listing = as_user(place, "--sessions-dir", root, "session", "list", "-f", "json")
    assert listing.returncode == 0, listing.stderr
    assert [item["session_id"] for item in json.loads(listing.stdout)] == ["a:s1"]
    assert listing.stderr.count("permission denied") == 1, listing.stderr


def test_each_warning_is_said_once_when_the_look_hands_over(root):
    """An unusable name in a directory the look scanned, then a change: the warning is not
    repeated by the refresh (the look's warnings go on only for what it does not scan again)."""
    write_session(root, "a", "s1")
    write_session(root, "b", "s1")
    (root / "a" / "bad\x07name.json").write_text("{}")
    time.sleep(RACY_NS / 1e9 * 2)
    run_installed("session", "list")
    time.sleep(RACY_NS / 1e9 * 2)
    run_installed("session", "list")
    write_session(root, "b", "s2")
    result = run_installed("session", "list", "--output-format", "json")
    assert result.returncode == 0, result.stderr
    assert sorted(listed_ids(result)) == ["a:s1", "b:s1", "b:s2"]
    assert result.stderr.count("bad") == 1, result.stderr
    unchanged = run_installed("session", "list", "--output-format", "json")
    assert unchanged.stderr.count("bad") == 1, unchanged.stderr


def test_a_listing_never_misses_a_change_made_between_commands(root):
    """The look compares digests only: every kind of change to a file is seen."""
    write_session(root, "a", "s1", messages=[])
    time.sleep(RACY_NS / 1e9 * 2)
    assert listed_ids(run_installed("session", "list", "--output-format", "json")) == ["a:s1"]
    time.sleep(RACY_NS / 1e9 * 2)
    run_installed("session", "list")
    path = write_session(
        root, "a", "s1", messages=[message("user", "hi"), message("assistant", "hello")]
    )
    shown = run_installed("session", "list", "--output-format", "json")
    assert json.loads(shown.stdout)[0]["message_count"] == 2
    os.rename(path, root / "a" / "s9.json")
    assert listed_ids(run_installed("session", "list", "--output-format", "json")) == ["a:s9"]


def freshness_filter():
    from mofa.stores.base import SessionFilter

    return SessionFilter()


def test_survey_reads_the_state_it_compares(indexed):
    assert set(freshness.stored_state(indexed.conn)) == {"", "a", "b", "c"}
