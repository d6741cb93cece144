"""`delete` on a PostgreSQL store: a refused delete says so before anything else."""

from __future__ import annotations

import time

import pytest

from mofa.stores import open_store
from tests.helpers import run_installed

pytest.importorskip("psycopg")


def _mirrored(pg_url: str, session_id: str) -> None:
    from mofa.stores.postgres import records

    document = {
        "created_at": "2024-01-01T00:00:00Z",
        "messages": [{"role": "user", "content": "hi", "timestamp": "2024-01-01T00:00:00Z"}],
    }
    with open_store(pg_url) as store:
        record, messages = records.prepared(session_id, document, time.time_ns())
        store.mirror_apply("host-1", [(record, messages)], [], 1)


@pytest.mark.parametrize("extra", [(), ("--force",)])
def test_a_refused_delete_of_a_mirrored_session_prints_no_progress_first(pg_url, extra):
    _mirrored(pg_url, "m:only")
    result = run_installed("--store", pg_url, "session", "delete", "m:only", *extra, input="y\n")
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "Error: session m:only is mirrored from origin 'host-1': delete it on that host"
    ]


def test_a_refused_delete_among_several_is_not_counted_or_prompted_for(pg_url):
    _mirrored(pg_url, "m:only")
    with open_store(pg_url) as store:
        store.save("d:1", {"messages": []})
    result = run_installed("--store", pg_url, "session", "delete", "m:only", "d:1", "--force")
    assert result.returncode == 2, result.stderr
    assert "mirrored from origin 'host-1'" in result.stderr
    assert "✓ Deleted 1 session" in result.stderr
    listed = run_installed("--store", pg_url, "session", "list")
    assert "m:only" in listed.stdout and "d:1" not in listed.stdout
