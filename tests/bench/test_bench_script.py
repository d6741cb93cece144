"""scripts/bench.py, search_floor.py and generate_sessions.py run for real on tiny trees: every
section gives its rows and the table lands between the page's markers. No figure is checked
(speed is measured, never asserted)."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys

import pytest

from indexer.watch.lock import running_pid
from mofa.searching import fold, searchable_text
from tests.helpers import REPO

pytest.importorskip("wordfreq")

SCRIPTS = REPO / "scripts"
WORD = re.compile(r"[^\W_]+")  # a token as FTS5's unicode61 cuts one
ROWS = (
    "list --limit 10, all agents, mofa-indexd |",
    "list --limit 10, all agents, no watcher |",
    "show one session, no watcher |",
    "mofa-indexd memory watching all sessions (peak) |",
    "cold index build |",
    "naive scan ÷ list --limit 10 with mofa-indexd |",
    "index size with search data ÷ sessions' bytes |",
    "first search, no watcher (builds the search data) |",
    "import --from-dir 60 sessions, mofa-indexd |",
    "export --all -o DIR, 40 sessions |",
    "list --limit 10, all agents, mofa-indexd, 300 sessions |",
    "(common word), mofa-indexd, 300 sessions |",
    "mofa-indexd memory (peak), 300 sessions |",
    "cold index build, 300 sessions |",
)
QUERY_KINDS = ("(rare word)", "(mid word)", "(common word)", "search the,", '"of the"')
QUERY_KINDS += ("(prefix)", "(two words)", "(a OR b)", "(a -b)")


def _script(name: str, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_one_bench_run_gives_every_row_and_writes_the_table(tmp_path):
    page = tmp_path / "performance.md"
    page.write_text("before\n<!-- bench.py: start -->\nold\n<!-- bench.py: end -->\nafter\n")
    data = tmp_path / "data"
    skip = [] if shutil.which("rg") else ["--skip", "queries"]
    done = _script(
        "bench.py",
        *("--installed", "--data", str(data), "-n", "200", "-a", "10", "--runs", "1"),
        *("--cold-runs", "1", "--latency-writes", "5", "--idle-seconds", "0.1"),
        *("--import-sessions", "60", "--import-runs", "1", "--export-sessions", "40"),
        *("--also-sessions", "300", "--write-table", str(page), *skip),
        timeout=600,
    )

    assert done.returncode == 0, done.stderr
    table = page.read_text()
    assert table.startswith("before\n<!-- bench.py: start -->\n200 sessions of realistic text")
    assert table.endswith("<!-- bench.py: end -->\nafter\n") and "\nold\n" not in table
    for row in ROWS:
        assert row in table, row
    words = json.loads((data / "results.json").read_text())["results"]["words"]
    assert f"rare {words['rare']!r}, mid {words['mid']!r}, common {words['common']!r}" in table
    if not skip:
        rows = [line for line in table.splitlines() if ", mofa-indexd |" in line]
        for kind in QUERY_KINDS:
            assert sum(kind in line and "| click |" in line for line in rows) == 1
            assert sum(kind in line and "| rg " in line for line in rows) == 1
    for index in data.glob("index*.sqlite3"):
        assert running_pid(str(index)) is None  # every watcher it started is stopped


def test_bench_refuses_an_unknown_section(tmp_path):
    done = _script("bench.py", "--installed", "--data", str(tmp_path), "--only", "listing,bogus")

    assert done.returncode == 2
    assert "unknown section bogus" in done.stderr and "Traceback" not in done.stderr


def _generate(root, *extra: str) -> None:
    _script(
        "generate_sessions.py", "--root", str(root), "-n", "120", "-a", "3", *extra
    ).check_returncode()


def _files(root) -> dict:
    return {
        path.relative_to(root): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_the_generated_tree_does_not_depend_on_the_number_of_processes(tmp_path):
    _generate(tmp_path / "one", "--realistic", "-j", "1", "--jsonl-fraction", "0.3")
    _generate(tmp_path / "two", "--realistic", "-j", "2", "--jsonl-fraction", "0.3")

    one = _files(tmp_path / "one")
    assert len(one) == 120 and any(name.suffix == ".jsonl" for name in one)
    assert one == _files(tmp_path / "two")


def test_search_floor_holds_every_message_of_every_layout(tmp_path):
    root, db = tmp_path / "sessions", tmp_path / "floor.sqlite3"
    _generate(root, "--realistic", "--jsonl-fraction", "0.3")
    done = _script("search_floor.py", str(root), str(db))
    assert done.returncode == 0, done.stderr

    holding = 0
    for path in root.rglob("*.json*"):
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".jsonl":
            contents = [json.loads(line)["content"] for line in text.split("\n")[1:]]
        else:
            contents = [item["content"] for item in json.loads(text)["messages"]]
        holding += sum("the" in WORD.findall(fold(searchable_text(c))) for c in contents)
    conn = sqlite3.connect(db)
    try:
        found = conn.execute("SELECT count(*) FROM floor WHERE floor MATCH 'the'").fetchone()[0]
    finally:
        conn.close()
    assert found == holding > 0
    assert _script("search_floor.py", str(root), str(db)).returncode == 1  # never over a file


def test_the_generator_refuses_fewer_sessions_than_agents_need(tmp_path):
    done = _script("generate_sessions.py", "--root", str(tmp_path / "s"), "-n", "20", "-a", "20")

    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].endswith("20 sessions are too few for 20 agents")
    assert not (tmp_path / "s").exists()
