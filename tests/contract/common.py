"""What the contract tests share: sessions as `import` would put them in, and a store filled
with them."""

from __future__ import annotations

import pytest

from mofa.stores.base import SessionStore


def document(created_at: str, messages: int = 1, **fields) -> dict:
    return {
        "created_at": created_at,
        "metadata": fields.pop("metadata", {"user_id": "user-456"}),
        "messages": [
            {
                "role": "user" if n % 2 == 0 else "assistant",
                "content": f"message {n}",
                "timestamp": created_at,
            }
            for n in range(messages)
        ],
        **fields,
    }


def mofa_document(key: str, created_at: str, messages: int = 1, metadata=None) -> dict:
    return {
        "key": key,
        "created_at": created_at,
        "updated_at": created_at,
        "metadata": metadata or {},
        "messages": [
            {"role": "user", "content": f"line {n}", "timestamp": created_at}
            for n in range(messages)
        ],
    }


@pytest.fixture
def filled(store: SessionStore) -> SessionStore:
    store.save("agent-001:session-123", document("2024-02-28T10:30:00Z", 12))
    store.save("agent-001:session-124", document("2024-02-28T11:45:00Z", 8, status="closed"))
    store.save(
        "agent-002:session-125",
        document("2024-02-28T12:15:00Z", 5, metadata={"user_id": "user-789"}),
    )
    store.save(
        "agent-002:session-126",
        document("2024-02-28T13:00:00Z", 0, metadata={"tags": ["billing", "vip", 7]}),
    )
    store.save(
        "telegram:chat-42", mofa_document("telegram:chat-42", "2024-02-28T12:00:00.5+00:00", 3)
    )
    store.save("user/42", mofa_document("user/42", "2024-02-28T09:00:00+00:00", 2))
    return store


def ids(rows) -> list[str]:
    return [row.session_id for row in rows]
