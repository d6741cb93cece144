"""`prune` and `import` on a database where two origins hold the same id (a session written
directly and one mirrored by `mofa-indexd --sync-to`): each acts on the session its identity
names, as `list`, `show` and `delete` do, never on the other one, never refused as ambiguous."""

from __future__ import annotations

import json
import time

import pytest

from mofa.documents import export_document, to_json
from mofa.stores import open_store
from mofa.stores.postgres import records
from tests.helpers import run_installed

pytest.importorskip("psycopg")


def document(text: str, created_at: str = "2024-01-01T00:00:00Z") -> dict:
    return {
        "created_at": created_at,
        "messages": [{"role": "user", "content": text, "timestamp": created_at}],
    }


def mirror(store, origin: str, session_id: str, doc: dict) -> None:
    record, messages = records.prepared(session_id, doc, time.time_ns())
    store.mirror_apply(origin, [(record, messages)], [], 1)


@pytest.fixture
def twins(pg_url):
    """`a:1` written directly and `a:1` mirrored from host-1, with other words; `m:only`
    held by host-1 alone."""
    with open_store(pg_url) as store:
        store.save("a:1", document("direct copy"))
        mirror(store, "host-1", "a:1", document("mirrored copy"))
        mirror(store, "host-1", "m:only", document("only on the host", "2030-01-01T00:00:00Z"))
    return pg_url


def texts(url: str) -> dict[tuple[str, str], str]:
    import psycopg

    with psycopg.connect(url) as conn:
        return {
            (origin, session_id): text
            for origin, session_id, text in conn.execute(
                "SELECT origin, session_id, text FROM mofa_messages ORDER BY 1, 2"
            ).fetchall()
        }


def test_import_of_an_unchanged_export_is_unchanged_not_ambiguous(twins, tmp_path):
    exported = run_installed(
        "--store",
        twins,
        "session",
        "export",
        "a:1",
        "--origin",
        "",
        "-o",
        str(tmp_path / "a1.json"),
    )
    assert exported.returncode == 0, exported.stderr
    imported = run_installed("--store", twins, "session", "import", str(tmp_path / "a1.json"))
    assert imported.returncode == 0, imported.stderr
    assert "✓ Imported 0 sessions (0 replaced, 1 unchanged)" in imported.stderr


def test_import_replace_replaces_the_direct_session_only(twins, tmp_path):
    path = tmp_path / "a1.json"
    with open_store(twins) as store:
        session = store.load(store.resolve("a:1", ""))
    changed = export_document(session) | {
        "messages": [{"role": "user", "content": "replaced copy"}]
    }
    path.write_text(to_json(changed))
    refused = run_installed("--store", twins, "session", "import", str(path))
    assert refused.returncode == 1 and "already exists with other content" in refused.stderr
    replaced = run_installed("--store", twins, "session", "import", "--replace", str(path))
    assert replaced.returncode == 0, replaced.stderr
    assert "✓ Imported 0 sessions (1 replaced, 0 unchanged)" in replaced.stderr
    assert texts(twins) == {
        ("", "a:1"): "replaced copy",
        ("host-1", "a:1"): "mirrored copy",
        ("host-1", "m:only"): "only on the host",
    }


def test_import_of_an_id_only_a_host_holds_is_a_new_direct_session(twins, tmp_path):
    path = tmp_path / "m.json"
    path.write_text(
        json.dumps({"session_id": "m:only"} | document("brought by hand", "2030-01-01T00:00:00Z"))
    )
    imported = run_installed("--store", twins, "session", "import", str(path))
    assert imported.returncode == 0, imported.stderr
    assert "✓ Imported 1 session (0 replaced, 0 unchanged)" in imported.stderr
    assert texts(twins)[("", "m:only")] == "brought by hand"
    assert texts(twins)[("host-1", "m:only")] == "only on the host"


def test_prune_acts_on_each_origins_session_as_list_shows_it(twins, tmp_path):
    dry = run_installed("--store", twins, "session", "prune", "--before", "2025-01-01", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == ["a:1", "a:1 (origin host-1)"]
    pruned = run_installed(
        "--store",
        twins,
        "session",
        "prune",
        "--before",
        "2025-01-01",
        "--archive",
        str(tmp_path / "archive"),
        "--force",
    )
    # The direct one goes (archived first); the mirrored one is the host's to delete: refused.
    assert pruned.returncode == 3
    assert "✓ Pruned 1 session (1 message)" in pruned.stderr
    assert "mirrored from origin 'host-1'" in pruned.stderr and "ambiguous" not in pruned.stderr
    assert (
        json.loads((tmp_path / "archive" / "a" / "1.json").read_text())["messages"][0]["content"]
        == "direct copy"
    )
    assert texts(twins) == {
        ("host-1", "a:1"): "mirrored copy",
        ("host-1", "m:only"): "only on the host",
    }
