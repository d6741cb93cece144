"""`resolve`: every listed id given back verbatim, short ids, unknown and invalid ids."""

from __future__ import annotations

import pytest

from mofa.errors import (
    AmbiguousSessionId,
    InvalidSessionId,
    SessionNotFound,
)
from mofa.stores.base import SessionRef
from tests.contract.common import document, mofa_document


@pytest.mark.parametrize(
    "text, expected",
    [
        ("agent-001:session-123", "agent-001:session-123"),
        ("session-123", "agent-001:session-123"),
        ("telegram:chat-42", "telegram:chat-42"),
        ("chat-42", "telegram:chat-42"),
        ("user/42", "user/42"),
    ],
)
def test_every_listed_id_resolves_verbatim_and_short_ids_too(filled, text, expected):
    ref = filled.resolve(text)
    assert isinstance(ref, SessionRef)
    assert ref.session_id == expected
    assert filled.load(ref).session_id == expected
    assert filled.get(text).session_id == expected


def test_every_listed_id_round_trips(filled):
    for row in filled.list():
        session = filled.get(row.session_id)
        assert (session.session_id, session.message_count, session.status) == (
            row.session_id,
            row.message_count,
            row.status,
        )


@pytest.mark.parametrize("text", ["agent-001:nope", "nope", "nobody:session-123"])
def test_unknown_ids_are_not_found(filled, text):
    with pytest.raises(SessionNotFound):
        filled.resolve(text)


@pytest.mark.parametrize("text", ["", "../etc:passwd", "agent-001:../x", "a/b:c", ".hidden:x"])
def test_ids_that_name_nothing_are_invalid_or_not_found(filled, text):
    with pytest.raises((InvalidSessionId, SessionNotFound)):
        filled.resolve(text)


def test_a_short_id_of_several_agents_is_ambiguous(filled):
    filled.save("agent-003:session-123", document("2024-03-01T00:00:00Z"))
    with pytest.raises(AmbiguousSessionId) as raised:
        filled.resolve("session-123")
    assert raised.value.candidates == ["agent-001:session-123", "agent-003:session-123"]


def test_a_mofa_key_without_colon_names_its_session_though_others_share_its_part(filled):
    filled.save("c", mofa_document("c", "2024-03-01T00:00:00Z"))
    filled.save("bot:c", document("2024-03-02T00:00:00Z"))
    for resolved in (filled.resolve("c"), filled.resolve_many(["c"])[0]):
        assert resolved.session_id == "c"
    assert filled.resolve("bot:c").session_id == "bot:c"
