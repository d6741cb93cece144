"""Best-first search with a limit on the PostgreSQL store (mofa.stores.postgres.ranking): a
threshold algorithm over bounds read from per-session word counts that triggers keep
(mofa.stores.postgres.words). Each answer is checked against the plain matcher over the very
same sessions (mofa.searching.search_sessions), which every store must agree with; the word
counts against a recount from the messages after every kind of write.
"""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mofa.searching import plain_snippet, search_sessions
from mofa.stores import open_store
from mofa.stores.base import SessionFilter
from mofa.stores.postgres import records, words
from tests.helpers import run_installed

pytest.importorskip("psycopg")


def save(store, session_id: str, created_at: str, *messages, replace: bool = False) -> None:
    """Messages are texts (role user) or (role, text) pairs."""
    store.save(
        session_id,
        {
            "created_at": created_at,
            "messages": [
                {"role": "user", "content": message, "timestamp": created_at}
                if isinstance(message, str)
                else {"role": message[0], "content": message[1], "timestamp": created_at}
                for message in messages
            ],
        },
        replace=replace,
    )


def plain(store, query: str, wanted: SessionFilter, role: str | None = None) -> list[tuple]:
    """(session_id, matches, snippet) best first, as the plain matcher finds them."""
    sessions = [
        store.load(store.resolve(row.session_id))
        for row in store.list(
            SessionFilter(agent=wanted.agent, since=wanted.since, until=wanted.until)
        )
    ]
    found = [
        (session.session_id, session.summary().created_at or "", matches, snippet)
        for session, matches, snippet in search_sessions(sessions, query, role)
    ]
    found.sort(key=lambda hit: hit[0])
    found.sort(key=lambda hit: (hit[2], hit[1]), reverse=True)
    if wanted.limit is not None:
        found = found[: wanted.limit]
    return [(session_id, matches, snippet) for session_id, _, matches, snippet in found]


def ours(store, query: str, wanted: SessionFilter, role: str | None = None) -> list[tuple]:
    return [(hit.session_id, hit.matches, hit.snippet) for hit in store.search(query, wanted, role)]


def agree(store, query: str, role: str | None = None, **wanted) -> list[tuple]:
    wanted = SessionFilter(**wanted)
    expected = plain(store, query, wanted, role)
    assert ours(store, query, wanted, role) == expected
    return expected


def word_counts_agree(store) -> None:
    assert words.stale(store.conn) == []


def day(number: int) -> str:
    return f"2024-{number // 28 % 12 + 1:02}-{number % 28 + 1:02}T00:00:00Z"


def test_the_threshold_looks_past_sessions_whose_bound_is_high_but_count_low(pg_url):
    with open_store(pg_url) as store:
        # 150 sessions (more than the first batch counted) where both words are in many
        # messages, never in the same one: bound 6, count 0; they are also the newest.
        for number in range(150):
            save(
                store,
                f"decoy:s{number:03}",
                day(200 + number),
                *(["alpha here"] * 6 + ["beta there"] * 6),
            )
        # Older sessions where they meet, in fewer messages.
        for number in range(8):
            save(
                store,
                f"real:s{number}",
                day(number),
                *(["alpha beta together"] * (number % 3 + 1) + ["alpha alone"] * 5),
            )
        hits = agree(store, "alpha beta", limit=3)
        assert [hit[:2] for hit in hits] == [("real:s5", 3), ("real:s2", 3), ("real:s7", 2)]
        agree(store, "alpha beta", limit=20)  # more wanted than there are hits
        agree(store, '"beta together"', limit=2)
        agree(store, '"alpha beta" alph*', limit=4)
        agree(store, "alpha", limit=5)
        agree(store, "bet*", limit=5)
        word_counts_agree(store)


def test_ties_in_count_go_to_the_newest_then_by_id(pg_url):
    with open_store(pg_url) as store:
        for name in ("c", "a", "b"):
            save(store, f"t:{name}", "2024-03-01T00:00:00Z", "refund please", "refund now")
        save(store, "t:new", "2024-04-01T00:00:00Z", "refund please", "refund again")
        save(store, "t:more", "2024-01-01T00:00:00Z", *["refund"] * 3)
        save(store, "t:one", "2024-05-01T00:00:00Z", "refund")
        hits = agree(store, "refund", limit=4)
        assert [hit[0] for hit in hits] == ["t:more", "t:new", "t:a", "t:b"]
        agree(store, "refund", limit=100)
        agree(store, "refund pl*", limit=3)


def test_role_and_session_filters_narrow_the_exact_counts(pg_url):
    with open_store(pg_url) as store:
        for number in range(40):
            agent = "alice" if number % 2 else "bob"
            save(
                store,
                f"{agent}:s{number:02}",
                day(number),
                *([("assistant", "invoice sent")] * (number % 5)),
                *([("user", "invoice missing")] * (number % 3)),
            )
        for role in (None, "user", "assistant"):
            agree(store, "invoice", role, limit=5)
            agree(store, "invoice", role, limit=5, agent="alice")
            agree(store, "invoice mis*", role, limit=3, since=day(10), until=day(30))
        assert agree(store, "invoice", "nobody", limit=5) == []


def test_words_in_different_messages_are_not_a_match(pg_url):
    with open_store(pg_url) as store:
        save(store, "x:apart", "2024-02-01T00:00:00Z", *["cake"] * 4, *["lemon"] * 4)
        save(store, "x:together", "2024-01-01T00:00:00Z", "lemon cake")
        assert agree(store, "lemon cake", limit=1) == [
            ("x:together", 1, "\x02lemon\x03 \x02cake\x03")
        ]
        assert agree(store, '"cake lemon"', limit=1) == []


def test_triggers_keep_the_word_counts_through_every_write(pg_url, tmp_path):
    with open_store(pg_url) as store:
        save(store, "w:one", "2024-01-01T00:00:00Z", "refund please", "the refund came")
        save(store, "w:two", "2024-01-02T00:00:00Z", "nothing")
        word_counts_agree(store)
        store.append(store.resolve("w:one"), {"role": "user", "content": "refund refund again"})
        store.append(store.resolve("w:two"), {"role": "user", "content": "Crème brûlée"})
        word_counts_agree(store)
        assert agree(store, "refund", limit=1) == [("w:one", 3, "\x02refund\x03 please")]
        save(store, "w:one", "2024-01-01T00:00:00Z", "all new words", replace=True)
        word_counts_agree(store)
        assert agree(store, "refund", limit=5) == []
        store.delete(store.resolve("w:two"))
        word_counts_agree(store)
        assert (
            store.conn.execute(
                "SELECT count(*) FROM mofa_session_words WHERE session_id = 'w:two'"
            ).fetchone()[0]
            == 0
        )
        # The mirror: sessions of another origin, replaced and deleted in one transaction.
        for text in ("refund from the host", "another refund text"):
            record, messages = records.prepared(
                "w:one",
                {
                    "created_at": "2024-01-03T00:00:00Z",
                    "messages": [{"role": "user", "content": text}],
                },
                time.time_ns(),
            )
            store.mirror_apply("host-1", [(record, messages)], [], 1)
            word_counts_agree(store)
        assert store.conn.execute(
            "SELECT messages FROM mofa_session_words WHERE origin = 'host-1' AND word = 'another'"
        ).fetchone() == (1,)
        store.mirror_apply("host-1", [], ["w:one"], 0)
        word_counts_agree(store)
    # import --replace, a real subprocess.
    path = tmp_path / "w.json"
    path.write_text(
        json.dumps(
            {
                "session_id": "w:one",
                "created_at": "2024-01-01T00:00:00Z",
                "messages": [{"role": "user", "content": "imported refund"}],
            }
        )
    )
    imported = run_installed("--store", pg_url, "session", "import", "--replace", str(path))
    assert imported.returncode == 0, imported.stderr
    with open_store(pg_url) as store:
        word_counts_agree(store)
        assert agree(store, "imported refund", limit=3) == [
            ("w:one", 1, "\x02imported\x03 \x02refund\x03")
        ]
        # An update of the words (what `index rebuild` writes) moves the counts with it.
        store.conn.execute("UPDATE mofa_messages SET words = %s", ("\x1fzebra\x1f",))
        word_counts_agree(store)
        assert [hit.session_id for hit in store.search("zebra", SessionFilter(limit=1))] == [
            "w:one"
        ]


def test_migrating_a_database_that_holds_sessions_counts_their_words(pg_url):
    import psycopg

    from mofa.stores.postgres import schema

    with open_store(pg_url) as store:
        save(store, "m:one", "2024-01-01T00:00:00Z", "refund please", "refund twice refund")
        save(store, "m:two", "2024-01-02T00:00:00Z", "one refund")
    # Back to version 3: no word table, no triggers.
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for operation in ("added", "removed", "changed"):
            conn.execute(f"DROP TRIGGER mofa_words_{operation} ON mofa_messages")
            conn.execute(f"DROP FUNCTION mofa_words_{operation}")
        conn.execute("DROP TABLE mofa_session_words")
        conn.execute("ALTER TABLE mofa_origins DROP COLUMN host, DROP COLUMN root")
        conn.execute("DROP VIEW sessions")  # and no titles (migration 7 adds them to the view)
        conn.execute("ALTER TABLE mofa_sessions DROP COLUMN title")
        conn.execute("DROP INDEX mofa_sessions_by_activity")
        conn.execute("UPDATE mofa_schema SET version = 3")
    with open_store(pg_url) as store:
        assert store.schema_version == schema.LATEST_VERSION == 7
        word_counts_agree(store)
        assert ours(store, "refund", SessionFilter(limit=1)) == [
            ("m:one", 2, "\x02refund\x03 please")
        ]


VOCABULARY = ["ab", "abc", "abd", "b", "ba", "cd", "Éa", "ea"]
texts = st.lists(st.sampled_from(VOCABULARY), min_size=0, max_size=5).map(" ".join)
corpora = st.lists(
    st.tuples(
        st.sampled_from(["x", "y"]),
        st.integers(0, 3),
        st.lists(st.tuples(st.sampled_from(["user", "assistant"]), texts), min_size=0, max_size=6),
    ),
    min_size=1,
    max_size=12,
)
term = st.one_of(
    st.sampled_from(VOCABULARY),
    st.sampled_from(["a*", "ab*", "b*", "e*"]),
    st.lists(st.sampled_from(VOCABULARY), min_size=2, max_size=2).map(
        lambda pair: f'"{pair[0]} {pair[1]}"'
    ),
)
queries = st.lists(term, min_size=1, max_size=3).map(" ".join)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    corpus=corpora,
    query=queries,
    limit=st.integers(1, 6),
    role=st.sampled_from([None, "user"]),
    agent=st.sampled_from([None, "x"]),
)
def test_any_search_with_a_limit_is_the_plain_matchers(pg_url, corpus, query, limit, role, agent):
    with open_store(pg_url) as store:
        store.conn.execute("DELETE FROM mofa_sessions")
        for number, (owner, created, messages) in enumerate(corpus):
            save(store, f"{owner}:s{number:02}", f"2024-01-0{created + 1}T00:00:00Z", *messages)
        word_counts_agree(store)
        wanted = SessionFilter(limit=limit, agent=agent)
        assert ours(store, query, wanted, role) == plain(store, query, wanted, role)
        assert [plain_snippet(hit[2]) for hit in ours(store, query, wanted, role)] == [
            plain_snippet(hit[2]) for hit in plain(store, query, wanted, role)
        ]


def test_bounds_too_loose_give_way_to_counting_every_match(pg_url, monkeypatch):
    from mofa.searching import _term_words, parse_query
    from mofa.stores.postgres import ranking

    with open_store(pg_url) as store:
        for number in range(30):
            save(
                store,
                f"p:s{number:02}",
                day(number),
                *(["invoice then refund"] * 5),
                *(["refund invoice"] * (number % 2)),
            )
        monkeypatch.setattr(ranking, "BUDGET", 10)
        terms = [(_term_words(term), term.prefix) for term in parse_query('"refund invoice"')]
        # The bound of every session is 5 or 6, its count 0 or 1: past ten candidates the
        # ranking gives up, and the search counts every match instead, with the same answer.
        with store.conn.transaction():  # its cursor lives in a transaction, as the store's does
            assert ranking.ranked(store.conn, terms, [], [], None, 3) is None
        assert agree(store, '"refund invoice"', limit=3) == [
            ("p:s29", 1, "\x02refund\x03 \x02invoice\x03"),
            ("p:s27", 1, "\x02refund\x03 \x02invoice\x03"),
            ("p:s25", 1, "\x02refund\x03 \x02invoice\x03"),
        ]
        monkeypatch.setattr(ranking, "BUDGET", 5000)
        with store.conn.transaction():
            assert len(ranking.ranked(store.conn, terms, [], [], None, 3)) == 3


def test_verify_finds_word_counts_out_of_date_and_repair_recounts_them(pg_url):
    with open_store(pg_url) as store:
        save(store, "v:one", "2024-01-01T00:00:00Z", "refund please", "refund again")
        save(store, "v:two", "2024-01-02T00:00:00Z", "refund")
        store.conn.execute("UPDATE mofa_session_words SET messages = 9 WHERE session_id = 'v:two'")
        store.conn.execute(
            "DELETE FROM mofa_session_words WHERE session_id = 'v:one' AND word = 'again'"
        )
    verified = run_installed("--store", pg_url, "session", "index", "verify")
    assert verified.returncode == 1
    assert verified.stdout == (
        "stale: v:one: its word counts for search are out of date\n"
        "stale: v:two: its word counts for search are out of date\n"
    )
    repaired = run_installed("--store", pg_url, "session", "index", "verify", "--repair")
    assert repaired.returncode == 0, repaired.stderr
    with open_store(pg_url) as store:
        word_counts_agree(store)
        assert ours(store, "refund", SessionFilter(limit=1)) == [
            ("v:one", 2, "\x02refund\x03 please")
        ]


def read_in_transaction(store, relation: str) -> int:
    """Tuples read from `relation` (a table or an index) and its indexes: entries returned by
    them and rows fetched through them or scanned, from the server's per-backend counters not
    yet reported (they may hold earlier transactions' too, and never change inside one: take
    differences in one)."""
    return store.conn.execute(
        "SELECT sum(pg_stat_get_xact_tuples_returned(r) + pg_stat_get_xact_tuples_fetched(r))"
        " FROM (SELECT %s::regclass::oid UNION SELECT indexrelid FROM pg_index"
        "       WHERE indrelid = %s::regclass) AS i(r)",
        (relation, relation),
    ).fetchone()[0]


def ranked_in_transaction(store, query: str, limit: int):
    from mofa.searching import _term_words, parse_query
    from mofa.stores.postgres import ranking

    terms = [(_term_words(term), term.prefix) for term in parse_query(query)]
    return ranking.ranked(store.conn, terms, [], [], None, limit)


def test_one_common_word_reads_its_best_sessions_from_the_index_not_all_of_them(pg_url):
    with open_store(pg_url) as store:
        for number in range(400):
            save(
                store,
                f"c:s{number:03}",
                day(number),
                *(["refund here"] * (9 if number % 50 == 0 else number % 5 + 1)),
            )
        store.conn.execute("VACUUM ANALYZE mofa_session_words")
        expected = agree(store, "refund", limit=3)
        assert [hit[1] for hit in expected] == [9, 9, 9]
        with store.conn.transaction():
            before = read_in_transaction(store, "mofa_session_words")
            hits = ranked_in_transaction(store, "refund", 3)
            read = read_in_transaction(store, "mofa_session_words") - before
        assert [(hit.session_id, hit.matches) for hit in hits] == [hit[:2] for hit in expected]
        # The 8 sessions of count 9 (index entries, perhaps their rows) and the probe for the
        # threshold, not the 400 that hold the word (all sorted before: `least(a0.n)`).
        assert 0 < read < 40


def test_words_are_ranked_by_their_shared_positions_without_reading_messages(pg_url):
    with open_store(pg_url) as store:
        # Both words in many messages of every session, together in few: the counts bound
        # far above the answer, the positions give it.
        for number in range(200):
            together = number % 5
            save(
                store,
                f"w:s{number:03}",
                day(number),
                *(["alpha here"] * 6 + ["beta there"] * 6 + ["alpha beta"] * together),
            )
        store.conn.execute("VACUUM ANALYZE mofa_session_words")
        expected = agree(store, "alpha beta", limit=4)
        assert [hit[1] for hit in expected] == [4, 4, 4, 4]
        with store.conn.transaction():
            before = read_in_transaction(store, "mofa_messages")
            hits = ranked_in_transaction(store, "beta alpha", 4)
            read = read_in_transaction(store, "mofa_messages") - before
        assert [(hit.session_id, hit.matches, hit.text) for hit in hits] == [
            (session_id, matches, "alpha beta") for session_id, matches, _ in expected
        ]
        # Each hit's first matching message, for its snippet (an entry of the key and its
        # row), and nothing counted: the candidates' messages were read for each batch before.
        assert read == 2 * 4
        # Lowered round by round when the first threshold finds too few: still the same.
        agree(store, "alpha beta", limit=150)
        agree(store, "alpha beta", limit=4, agent="w", since=day(20), until=day(60))


def test_positions_follow_appends_replacements_and_rebuilds(pg_url):
    with open_store(pg_url) as store:
        save(store, "p:one", "2024-01-01T00:00:00Z", "alpha", "beta", "alpha beta")
        save(store, "p:two", "2024-01-02T00:00:00Z", "alpha beta")
        for _ in range(3):  # appends lengthen only the new message's words' bit strings
            store.append(store.resolve("p:two"), {"role": "user", "content": "alpha"})
        store.append(store.resolve("p:two"), {"role": "user", "content": "beta alpha"})
        word_counts_agree(store)
        assert agree(store, "alpha beta", limit=2) == [
            ("p:two", 2, "\x02alpha\x03 \x02beta\x03"),
            ("p:one", 1, "\x02alpha\x03 \x02beta\x03"),
        ]
        assert store.conn.execute(
            "SELECT positions::text FROM mofa_session_words"
            " WHERE session_id = 'p:two' AND word = 'beta'"
        ).fetchone() == ("10001",)
        save(
            store,
            "p:one",
            "2024-01-01T00:00:00Z",
            "beta alpha",
            "alpha beta",
            "beta alpha",
            replace=True,
        )
        word_counts_agree(store)
        assert agree(store, "alpha beta", limit=1) == [("p:one", 3, "\x02beta\x03 \x02alpha\x03")]
        # An update of the words (what `index rebuild` writes): message 2 of p:two loses beta.
        store.conn.execute(
            "UPDATE mofa_messages SET words = %s WHERE session_id = 'p:two' AND position = 4",
            ("\x1falpha\x1f",),
        )
        word_counts_agree(store)
        assert ours(store, "alpha beta", SessionFilter(limit=2)) == [
            ("p:one", 3, "\x02beta\x03 \x02alpha\x03"),
            ("p:two", 1, "\x02alpha\x03 \x02beta\x03"),
        ]
