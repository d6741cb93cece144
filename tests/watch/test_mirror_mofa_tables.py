"""MoFA's own persistence tables (entity_chat_session, entity_llm_message) in the database:
listed, shown, searched and exported beside the store's sessions, read-only."""

from __future__ import annotations

import json

import pytest

from tests.helpers import run

pytest.importorskip("psycopg")

SESSION = "6f1c1d8e-0000-4000-8000-000000000001"
AGENT = "a9e1c1d8-0000-4000-8000-0000000000aa"
USER = "b9e1c1d8-0000-4000-8000-0000000000bb"


@pytest.fixture
def mofa_db(pg_url):
    """The test's schema with MoFA's tables (the columns of its postgres_init.sql), one chat
    session of two messages, and one session saved through mofa itself."""
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("""
            CREATE TABLE entity_chat_session (
                id uuid PRIMARY KEY, user_id uuid NOT NULL, agent_id uuid NOT NULL,
                tenant_id uuid, title varchar(255), metadata jsonb,
                create_time timestamptz NOT NULL DEFAULT now(),
                update_time timestamptz NOT NULL DEFAULT now())""")
        conn.execute("""
            CREATE TABLE entity_llm_message (
                id uuid PRIMARY KEY, parent_message_id uuid,
                chat_session_id uuid NOT NULL REFERENCES entity_chat_session (id) ON DELETE CASCADE,
                agent_id uuid NOT NULL, user_id uuid NOT NULL, tenant_id uuid,
                role varchar(20) NOT NULL, content jsonb NOT NULL,
                create_time timestamptz NOT NULL DEFAULT now(),
                update_time timestamptz NOT NULL DEFAULT now())""")
        conn.execute("CREATE INDEX ON entity_llm_message (chat_session_id, create_time)")
        conn.execute(
            "INSERT INTO entity_chat_session VALUES (%s, %s, %s, NULL, 'Billing help',"
            " '{\"channel\": \"web\"}', '2024-03-01T10:00:00Z', '2024-03-01T10:05:00Z')",
            (SESSION, USER, AGENT),
        )
        for number, (role, content) in enumerate(
            [("user", "my invoice is wrong"), ("assistant", "let me check the invoice")]
        ):
            conn.execute(
                "INSERT INTO entity_llm_message VALUES (%s, NULL, %s, %s, %s, NULL, %s,"
                " %s, %s, %s)",
                (
                    f"00000000-0000-4000-8000-00000000000{number}",
                    SESSION,
                    AGENT,
                    USER,
                    role,
                    json.dumps(content),
                    f"2024-03-01T10:0{number}:00Z",
                    f"2024-03-01T10:0{number}:00Z",
                ),
            )
    saved = run("--store", pg_url, "session", "list")  # creates mofa's schema beside them
    assert saved.exit_code == 0, saved.output
    from mofa.stores import open_store

    with open_store(pg_url) as store:
        store.save(
            "agent:direct",
            {
                "created_at": "2024-01-01T00:00:00Z",
                "messages": [{"role": "user", "content": "an invoice too"}],
            },
        )
    return pg_url


def test_mofa_tables_are_listed_shown_searched_and_exported(mofa_db, tmp_path):
    listed = run("--store", mofa_db, "session", "list", "--output-format", "json")
    assert listed.exit_code == 0, listed.output
    assert [
        (row["session_id"], row["origin"], row["message_count"])
        for row in json.loads(listed.stdout)
    ] == [("agent:direct", "", 1), (SESSION, "mofa-tables", 2)]
    by_agent = run(
        "--store", mofa_db, "session", "list", "--agent", AGENT, "--output-format", "json"
    )
    assert [row["session_id"] for row in json.loads(by_agent.stdout)] == [SESSION]
    shown = run("--store", mofa_db, "session", "show", SESSION, "--format", "json")
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)
    assert [m["content"] for m in document["messages"]] == [
        "my invoice is wrong",
        "let me check the invoice",
    ]
    assert document["metadata"]["user_id"] == USER and document["metadata"]["channel"] == "web"
    found = run("--store", mofa_db, "session", "search", "invoice", "--output-format", "json")
    assert found.exit_code == 0, found.output
    assert sorted(hit["session_id"] for hit in json.loads(found.stdout)) == sorted(
        ["agent:direct", SESSION]
    )
    out = tmp_path / "mofa.json"
    exported = run("--store", mofa_db, "session", "export", SESSION, "-o", str(out))
    assert exported.exit_code == 0, exported.output
    assert json.loads(out.read_text())["title"] == "Billing help"


def test_mofa_tables_are_read_only(mofa_db):
    import psycopg

    refused = run("--store", mofa_db, "session", "delete", SESSION, "--force")
    assert refused.exit_code == 2
    assert "entity_chat_session" in refused.stderr
    with psycopg.connect(mofa_db, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM entity_llm_message").fetchone()[0] == 2


def complete(url: str, line: str) -> list[str]:
    """What Tab offers after `line` (the shell's own call back into mofa: bash's script sends
    the line and the word it will replace, and reads NUL-terminated type and reply)."""
    from tests.helpers import run_installed

    result = run_installed(
        env={
            "_MOFA_COMPLETE": "bash_complete",
            "_MOFA_COMP_LINE": line,
            "_MOFA_COMP_TEXT": line.rsplit(" ", 1)[-1],
            "MOFA_STORE": url,
        }
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split("\0")[1:-1:2]


def test_ids_and_agents_of_mofa_tables_complete(mofa_db):
    assert complete(mofa_db, "mofa session show 6f1c") == [SESSION]
    assert complete(mofa_db, "mofa session show a") == ["agent:direct"]
    assert complete(mofa_db, "mofa session list --agent a9e1") == [AGENT]
    assert complete(mofa_db, "mofa session list --agent ag") == ["agent"]
