"""What every SessionStore must do, expressed against the interface alone.

Sessions are put in through `save` (as `import` does) so that the same tests run on any store.
"""

from __future__ import annotations

import pytest

from mofa.errors import (
    AmbiguousSessionId,
    InvalidSessionId,
    SessionExists,
    SessionNotFound,
)
from mofa.stores.base import SessionFilter, SessionRef, SessionRow, SessionStore
from mofa.timestamps import precise_index_text as at


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


def test_load_gives_every_stored_field(filled):
    session = filled.get("agent-001:session-124")
    assert session.document["status"] == "closed"
    assert session.metadata == {"user_id": "user-456"}
    assert [message["content"] for message in session.messages] == [
        f"message {n}" for n in range(8)
    ]


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


def test_status_names_the_store_first(filled):
    report = filled.status()
    assert next(iter(report)) == "store"
    assert isinstance(report["store"], str) and report["store"]


def test_an_empty_store_lists_nothing(store):
    assert list(store.list()) == []
    with pytest.raises(SessionNotFound):
        store.resolve("agent:session")


# -- search ---------------------------------------------------------------------------------


@pytest.fixture
def talked(store: SessionStore) -> SessionStore:
    def conversation(*lines):
        return [
            {"role": role, "content": content, "timestamp": "2024-03-01T10:00:00Z"}
            for role, content in lines
        ]

    store.save(
        "shop:s1",
        {
            "created_at": "2024-03-01T10:00:00Z",
            "messages": conversation(
                ("user", "Where is my order? I want a refund."),
                ("assistant", "Your order status is: shipped. The refund is pending."),
                ("tool", {"order": {"status": "shipped", "note": "Café crème"}}),
            ),
        },
    )
    store.save(
        "shop:s2",
        {
            "created_at": "2024-03-05T10:00:00Z",
            "messages": conversation(
                ("user", "I want a refund"), ("assistant", "Deliveries are late this week.")
            ),
        },
    )
    store.save(
        "tg:42",
        mofa_document("tg:42", "2024-03-07T10:00:00+00:00", 0)
        | {
            "messages": [
                {
                    "role": "user",
                    "content": "status of my ORDER-STATUS?",
                    "timestamp": "2024-03-07T10:00:05Z",
                }
            ]
        },
    )
    return store


def hit_ids(hits) -> list[str]:
    return sorted(hit.session_id for hit in hits)


@pytest.mark.parametrize(
    "query, expected",
    [
        ("refund", ["shop:s1", "shop:s2"]),
        ("REFUND order", ["shop:s1"]),
        ('"order status"', ["shop:s1", "tg:42"]),
        ("deliv*", ["shop:s2"]),
        ("cafe", ["shop:s1"]),
        ("CAFÉ crème", ["shop:s1"]),
        ("zebra", []),
    ],
)
def test_search_words_phrases_prefixes_folded(talked, query, expected):
    assert hit_ids(talked.search(query)) == expected


def test_search_counts_matching_messages_and_marks_the_snippet(talked):
    from mofa.searching import MARK_END, MARK_START

    (hit,) = [hit for hit in talked.search("refund") if hit.session_id == "shop:s1"]
    assert (hit.agent, hit.matches) == ("shop", 2)
    assert f"{MARK_START}refund{MARK_END}" in hit.snippet
    assert hit.created_at.startswith("2024-03-01T10:00:00")


def test_search_filters(talked):
    assert hit_ids(talked.search("refund", role="assistant")) == ["shop:s1"]
    assert hit_ids(talked.search("shipped", role="tool")) == ["shop:s1"]
    assert hit_ids(talked.search("status", SessionFilter(agent="tg"))) == ["tg:42"]
    assert hit_ids(talked.search("refund", SessionFilter(since=at("2024-03-02T00:00:00Z")))) == [
        "shop:s2"
    ]
    assert hit_ids(talked.search("refund", SessionFilter(until=at("2024-03-02T00:00:00Z")))) == [
        "shop:s1"
    ]
    assert len(talked.search("refund", SessionFilter(limit=1))) == 1


def test_search_is_as_fresh_as_list(talked):
    talked.append(
        talked.resolve("shop:s2"),
        {"role": "user", "content": "zebra", "timestamp": "2024-03-05T10:01:00Z"},
    )
    assert hit_ids(talked.search("zebra")) == ["shop:s2"]
    talked.delete(talked.resolve("shop:s2"))
    assert hit_ids(talked.search("refund")) == ["shop:s1"]


@pytest.mark.parametrize("query", ["", "   ", "!!!", '"unbalanced'])
def test_a_query_it_cannot_take_is_refused(talked, query):
    from mofa.errors import InvalidSearchQuery

    with pytest.raises(InvalidSearchQuery):
        talked.search(query)


# -- search: what a word is ------------------------------------------------------------------


@pytest.fixture
def worded(store: SessionStore) -> SessionStore:
    def said(session_id, created_at, *contents):
        store.save(
            session_id,
            {
                "created_at": created_at,
                "messages": [
                    {"role": "user", "content": content, "timestamp": created_at}
                    for content in contents
                ],
            },
        )

    said("w:refunded", "2024-04-01T10:00:00Z", "The order was refunded yesterday.")
    said("w:accents", "2024-04-02T10:00:00Z", "Ångström measured the CRÈME brûlée: naïve façade!")
    said("w:punct", "2024-04-03T10:00:00Z", "status=shipped; order#42 (tracking-id: AB_12)")
    said("w:apart", "2024-04-04T10:00:00Z", "order first", "status later")
    said("w:cyrillic", "2024-04-05T10:00:00Z", "Заказ ОТПРАВЛЕН сегодня")
    said("w:long", "2024-04-06T10:00:00Z", "blob " + "q" * 3000 + " end")
    said("w:percent", "2024-04-07T10:00:00Z", "a 100% match, under_score and back\\slash")
    return store


@pytest.mark.parametrize(
    "query, expected",
    [
        ("fund", []),  # words, not substrings
        ("refund", []),  # a whole word: "refunded" is another
        ("refund*", ["w:refunded"]),  # unless it is a prefix
        ("angstrom creme brulee naive facade", ["w:accents"]),  # accents and case folded
        ('"creme brulee"', ["w:accents"]),
        ('"brulee creme"', []),  # a phrase keeps its order
        ('"order 42"', ["w:punct"]),  # punctuation separates words
        ('"tracking id ab"', ["w:punct"]),
        ("ab_12", ["w:punct"]),  # "_" separates words too: "ab" and "12"
        ("ab", ["w:punct"]),
        ('"order status"', []),  # a phrase is consecutive words
        ("order status", ["w:punct"]),  # all words in one message, in any order
        ("отправлен", ["w:cyrillic"]),  # any script, case folded
        ("заказ*", ["w:cyrillic"]),
        ("q" * 999 + "*", ["w:long"]),  # a word of any length, by a query of at most 1,000
        ("q" * 1000, []),
        ("100", ["w:percent"]),  # LIKE's own characters are plain text
        ("under score", ["w:percent"]),
        ('"back slash"', ["w:percent"]),
        ("10*", ["w:percent"]),
    ],
)
def test_search_matches_whole_folded_words(worded, query, expected):
    assert hit_ids(worded.search(query)) == expected


def test_search_orders_by_matching_messages_then_newest(store):
    for session_id, created_at, matching in (
        ("o:a", "2024-01-01T00:00:00Z", 1),
        ("o:b", "2024-01-02T00:00:00Z", 3),
        ("o:c", "2024-01-03T00:00:00Z", 1),
        ("o:d", "2024-01-03T00:00:00Z", 1),
    ):
        store.save(
            session_id,
            {
                "created_at": created_at,
                "messages": [
                    {
                        "role": "user",
                        "content": "ticket" if n < matching else "other",
                        "timestamp": created_at,
                    }
                    for n in range(3)
                ],
            },
        )
    hits = store.search("ticket")
    assert [(hit.session_id, hit.matches) for hit in hits] == [
        ("o:b", 3),
        ("o:c", 1),
        ("o:d", 1),
        ("o:a", 1),
    ]
    assert [hit.session_id for hit in store.search("ticket", SessionFilter(limit=2))] == [
        "o:b",
        "o:c",
    ]


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
