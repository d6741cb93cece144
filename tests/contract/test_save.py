"""`save` and `append`: what `import` and the Python API write."""

from __future__ import annotations

import pytest

from mofa.errors import (
    SessionExists,
)
from mofa.stores.base import SessionFilter
from tests.contract.common import document, ids


def test_save_refuses_an_existing_id_unless_replacing(filled):
    with pytest.raises(SessionExists):
        filled.save("agent-001:session-123", document("2025-01-01T00:00:00Z"))
    filled.save("agent-001:session-123", document("2025-01-01T00:00:00Z", 2), replace=True)
    session = filled.get("agent-001:session-123")
    assert session.message_count == 2
    assert ids(filled.list(SessionFilter(limit=1))) == ["agent-001:session-123"]


def test_append_adds_one_message_at_the_end(filled):
    ref = filled.resolve("telegram:chat-42")
    filled.append(
        ref, {"role": "assistant", "content": "appended", "timestamp": "2024-02-28T12:01:00Z"}
    )
    session = filled.get("telegram:chat-42")
    assert session.message_count == 4
    assert session.messages[-1]["content"] == "appended"
    ref = filled.resolve("agent-002:session-126")
    filled.append(ref, {"role": "user", "content": "first", "timestamp": "2024-02-28T13:00:01Z"})
    row = next(row for row in filled.list() if row.session_id == "agent-002:session-126")
    assert (row.message_count, row.status) == (1, "active")
