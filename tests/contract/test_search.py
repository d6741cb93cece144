"""`search`: the query language, counts, snippets, filters and order, on every store."""

from __future__ import annotations

import pytest

from mofa.stores.base import SessionFilter, SessionStore
from mofa.timestamps import precise_index_text as at
from tests.contract.common import mofa_document


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
