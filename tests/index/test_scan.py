"""The stat refresh without the watcher: one pass through a directory descriptor that keeps a
hash per file, not a stat object; only files whose hash differs from their row are stat-ed
again."""

import os
import time

from indexer.build.refresh import RACY_NS
from indexer.index.session_index import SessionIndex
from mofa import tree
from tests.helpers import write_session


def test_a_scan_keeps_hashes_and_the_same_digest_either_way(tmp_path):
    agent = tmp_path / "a"
    for number in range(5):
        write_session(tmp_path, "a", f"s{number}")
    lean = tree.scan_dir(str(agent), True)
    full = tree.scan_dir(str(agent), True, keep_keys=True)
    assert lean.keys is None and sorted(lean.names) == [f"s{n}.json" for n in range(5)]
    assert full.digest == lean.digest and full.hashes == lean.hashes
    assert [hash(key) for key in full.keys] == full.hashes


def test_a_symlinked_agent_directory_is_not_read(tmp_path):
    write_session(tmp_path, "real", "s")
    os.symlink(tmp_path / "real", tmp_path / "link")
    assert tree.scan_dir(str(tmp_path / "link"), True) is None
    assert tree.scan_dir(str(tmp_path / "real"), True).names == ["s.json"]


def test_only_the_changed_files_are_stat_ed_again(root, tmp_path, monkeypatch):
    for number in range(20):
        write_session(root, "a", f"s{number:02d}")
    index = SessionIndex(str(root), str(tmp_path / "index.sqlite3"))
    try:
        time.sleep(2 * RACY_NS / 1e9)  # older than the racy window: rows and digest are trusted
        index.refresh("a")
        asked = []
        real = tree.stat_files

        def recording(path, agent, names):
            asked.extend(names)
            return real(path, agent, names)

        monkeypatch.setattr(tree, "stat_files", recording)
        assert index.refresh("a").changed == 0 and asked == []  # the digest matched
        write_session(root, "a", "s05", messages=[])  # rewritten in place
        os.unlink(root / "a" / "s07.json")
        write_session(root, "a", "new")
        index.refresh("a")
        assert sorted(asked) == ["new.json", "s05.json"]
        counts = dict(index.conn.execute("SELECT name, message_count FROM sessions"))
        assert (
            counts["s05"] == 0 and "s07" not in counts and counts["new"] == 1 and len(counts) == 20
        )
    finally:
        index.close()
