"""`list`: the order, the limit, the filters, `--sort updated` and wide rows, on every store."""

from __future__ import annotations

import pytest

from mofa.errors import (
    SessionNotFound,
)
from mofa.stores.base import SessionFilter, SessionRow, SessionStore
from mofa.timestamps import precise_index_text as at
from tests.contract.common import ids


def test_list_is_oldest_first_with_named_fields(filled):
    rows = list(filled.list())
    assert all(isinstance(row, SessionRow) for row in rows)
    assert ids(rows) == [
        "user/42",
        "agent-001:session-123",
        "agent-001:session-124",
        "telegram:chat-42",
        "agent-002:session-125",
        "agent-002:session-126",
    ]
    first = rows[1]
    assert (first.agent, first.name, first.message_count, first.status, first.user_id) == (
        "agent-001",
        "session-123",
        12,
        "active",
        "user-456",
    )
    assert first.created_at.startswith("2024-02-28T10:30:00")


def test_limit_takes_the_newest_and_prints_them_oldest_first(filled):
    assert ids(filled.list(SessionFilter(limit=2))) == [
        "agent-002:session-125",
        "agent-002:session-126",
    ]
    assert ids(filled.list(SessionFilter(limit=0))) == []
    assert len(list(filled.list(SessionFilter(limit=100)))) == 6


@pytest.mark.parametrize(
    "wanted, expected",
    [
        (SessionFilter(agent="agent-001"), ["agent-001:session-123", "agent-001:session-124"]),
        (SessionFilter(agent="telegram"), ["telegram:chat-42"]),
        (SessionFilter(agent="nobody"), []),
        (SessionFilter(agent="agent-002", limit=1), ["agent-002:session-126"]),
        (SessionFilter(statuses=("closed",)), ["agent-001:session-124"]),
        (
            SessionFilter(statuses=("empty", "closed")),
            ["agent-001:session-124", "agent-002:session-126"],
        ),
        (SessionFilter(user="user-789"), ["agent-002:session-125"]),
        (SessionFilter(tags=("billing",)), ["agent-002:session-126"]),
        (SessionFilter(tags=("billing", "vip")), ["agent-002:session-126"]),
        (SessionFilter(tags=("billing", "nope")), []),
        (SessionFilter(tags=("7",)), []),
        (
            SessionFilter(since=at("2024-02-28T12:15:00Z")),
            ["agent-002:session-125", "agent-002:session-126"],
        ),
        (SessionFilter(until=at("2024-02-28T10:30:00Z")), ["user/42"]),
        (
            SessionFilter(
                since=at("2024-02-28T11:00:00Z"), until=at("2024-02-28T12:30:00Z"), limit=2
            ),
            ["telegram:chat-42", "agent-002:session-125"],
        ),
    ],
)
def test_filters_combine_and_the_limit_applies_last(filled, wanted, expected):
    assert ids(filled.list(wanted)) == expected


def test_an_empty_store_lists_nothing(store):
    assert list(store.list()) == []
    with pytest.raises(SessionNotFound):
        store.resolve("agent:session")


# -- search ---------------------------------------------------------------------------------


def said(role: str, content, timestamp: str) -> dict:
    return {"role": role, "content": content, "timestamp": timestamp}


@pytest.fixture
def active(store: SessionStore) -> SessionStore:
    """Sessions whose last activity orders them otherwise than their creation does."""
    store.save(
        "a:one",
        {
            "created_at": "2024-03-01T10:00:00Z",
            "updated_at": "2024-03-01T15:00:00Z",
            "metadata": {"title": "Planned trip"},
            "messages": [said("user", "Where to?", "2024-03-01T10:00:00Z")],
        },
    )
    store.save(
        "a:two",
        {
            "created_at": "2024-03-01T11:00:00Z",
            "messages": [
                said("assistant", "Hi", "2024-03-01T11:00:00Z"),
                said("user", "  \n\nFirst line\nsecond line", "2024-03-01T11:30:00Z"),
                said("assistant", "Done", "2024-03-01T12:00:00Z"),
            ],
        },
    )
    store.save(
        "a:three",
        {"created_at": "2024-03-01T12:00:00Z", "metadata": {"title": 42}, "messages": []},
    )
    store.save(
        "b:four",
        {
            "created_at": "2024-03-01T09:00:00Z",
            "metadata": {"title": ["not", "a", "string"]},
            "messages": [
                said("user", "hello\r\nthere", "2024-03-01T09:00:00Z"),
                said("assistant", "hi", "2024-03-01T13:00:00Z"),
            ],
        },
    )
    store.save(
        "b:five",
        {
            "created_at": "2024-03-01T13:30:00Z",
            "updated_at": "yesterday",
            "messages": [
                said("assistant", "Welcome", "2024-03-01T13:30:00Z"),
                said("user", {"text": "not a string"}, "2024-03-01T13:40:00Z"),
            ],
        },
    )
    return store


def test_sort_updated_orders_by_last_activity_ties_by_id(active):
    assert ids(active.list()) == ["b:four", "a:one", "a:two", "a:three", "b:five"]
    by_activity = ["a:three", "a:two", "b:four", "b:five", "a:one"]
    assert ids(active.list(SessionFilter(sort="updated"))) == by_activity


@pytest.mark.parametrize("limit", [0, 1, 2, 3, 5, 9])
def test_sort_updated_with_a_limit_keeps_the_most_recently_active(active, limit):
    by_activity = ["a:three", "a:two", "b:four", "b:five", "a:one"]
    rows = active.list(SessionFilter(sort="updated", limit=limit))
    assert ids(rows) == by_activity[max(len(by_activity) - limit, 0) :]


def test_sort_updated_keeps_every_filter(active):
    wanted = SessionFilter(sort="updated", agent="a", limit=2)
    assert ids(active.list(wanted)) == ["a:two", "a:one"]
    wanted = SessionFilter(sort="updated", since=at("2024-03-01T10:30:00Z"))
    assert ids(active.list(wanted)) == ["a:three", "a:two", "b:five"]


def test_wide_rows_carry_the_title(active):
    from mofa.stores.wide import WideRow

    rows = list(active.list(SessionFilter(sort="updated"), wide=True))
    assert all(isinstance(row, WideRow) for row in rows)
    assert {row.session_id: row.title for row in rows} == {
        "a:one": "Planned trip",
        "a:two": "First line",
        "a:three": None,
        "b:four": "hello",
        "b:five": None,
    }
    narrow = {row.session_id: row for row in active.list()}
    for row in rows:
        assert tuple(row[: len(SessionRow._fields)]) == tuple(narrow[row.session_id])
    assert ids(active.list(SessionFilter(limit=2), wide=True)) == ["a:three", "b:five"]


def test_a_first_user_message_appended_names_an_untitled_session(active):
    active.append(active.resolve("a:three"), said("assistant", "Hello", "2024-03-01T16:00:00Z"))
    active.append(
        active.resolve("a:three"), said("user", "Book it\nplease", "2024-03-01T16:01:00Z")
    )
    active.append(active.resolve("a:three"), said("user", "Thanks", "2024-03-01T16:02:00Z"))
    rows = {row.session_id: row for row in active.list(wide=True)}
    assert rows["a:three"].title == "Book it"
    assert ids(active.list(SessionFilter(sort="updated", limit=1))) == ["a:three"]
