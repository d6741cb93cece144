"""`delete`: the session and only it, once."""

from __future__ import annotations

import pytest

from mofa.errors import (
    SessionNotFound,
)
from mofa.stores.base import SessionFilter
from tests.contract.common import ids


def test_delete_removes_the_session_and_only_it(filled):
    filled.delete(filled.resolve("agent-001:session-123"))
    with pytest.raises(SessionNotFound):
        filled.resolve("agent-001:session-123")
    assert "agent-001:session-123" not in ids(filled.list())
    assert len(list(filled.list())) == 5
    filled.delete(filled.resolve("user/42"))
    assert ids(filled.list(SessionFilter(agent="user/42"))) == []


def test_a_deleted_session_cannot_be_deleted_twice(filled):
    ref = filled.resolve("chat-42")
    filled.delete(ref)
    with pytest.raises(SessionNotFound):
        filled.delete(ref)
