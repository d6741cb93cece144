"""`load`: every stored field, on every store."""

from __future__ import annotations


def test_load_gives_every_stored_field(filled):
    session = filled.get("agent-001:session-124")
    assert session.document["status"] == "closed"
    assert session.metadata == {"user_id": "user-456"}
    assert [message["content"] for message in session.messages] == [
        f"message {n}" for n in range(8)
    ]
