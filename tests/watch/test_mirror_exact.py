"""Sessions mirrored by `mofa-indexd --sync-to` export from PostgreSQL exactly as from their
files: every number keeps its text (`1e400`, `0.10000000000000000555`, `1e-400`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run
from tests.watch.test_mirror import start_watcher, stop_all, wait_equal

pytest.importorskip("psycopg")

NUMBERS = '{"huge": 1e400, "exact": 0.10000000000000000555, "tiny": 1e-400, "neg": -1E+400}'


def write_exact_sessions(root: Path) -> list[str]:
    (root / "agent").mkdir(parents=True)
    (root / "agent" / "numbers.json").write_text(
        '{"created_at": "2024-02-28T10:30:00Z", "metadata": ' + NUMBERS + ', "score": 1e400,'
        ' "messages": [{"role": "user", "content": ' + NUMBERS + ","
        ' "timestamp": "2024-02-28T10:30:05Z", "weight": 0.10000000000000000555}]}'
    )
    (root / "chat_1.jsonl").write_text(
        '{"key":"chat:1","created_at":"2024-02-28T10:30:00Z","updated_at":"2024-02-28T10:30:00Z",'
        '"metadata":' + NUMBERS + "}\n"
        '{"role":"user","content":"hi","timestamp":"2024-02-28T10:30:05Z","t":1e-400}'
    )
    return ["agent:numbers", "chat:1"]


def export(*args: str) -> str:
    result = run(*args, "-o", "-", "-f", "json")
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_mirrored_session_exports_its_numbers_exactly_as_its_file(tmp_path, pg_url):
    root = tmp_path / "host"
    ids = write_exact_sessions(root)
    watcher = start_watcher(tmp_path, root, pg_url, "hostA")
    try:
        wait_equal(pg_url, {"hostA": root})
    finally:
        stop_all([watcher])
    for session_id in ids:
        from_files = export("--sessions-dir", str(root), "session", "export", session_id)
        from_database = export("--store", pg_url, "session", "export", session_id)
        assert "1e400" in from_files and "Infinity" not in from_files
        assert from_database == from_files
