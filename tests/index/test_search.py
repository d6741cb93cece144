"""Full-text search in the index: the query language, the search data, its freshness, results."""

import json
import os
import sqlite3

import pytest
from freezegun import freeze_time
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer.index import search as search_module
from indexer.index.search import (
    MARK_END,
    MARK_START,
    SearchFilter,
    ensure_search,
    match_expression,
    message_text,
    parse_query,
    plain_snippet,
    search,
    search_exists,
    snippet_parts,
)
from mofa.errors import InvalidSearchQuery, MofaError
from mofa.when import when_text
from tests.helpers import message, write_jsonl, write_session


def ids(hits):
    return [hit.session_id for hit in hits]


def search_tables(conn):
    return sorted(
        name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'search%'")
    )


def find(index, query, **where):
    index.refresh()
    ensure_search(index.conn, index.root)
    return search(index.conn, query, SearchFilter(**where))


# -- the query language ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expression",
    [
        ("refund", '"refund"'),
        ("refund order", '("refund" AND "order")'),
        ("  refund\t order\n", '("refund" AND "order")'),
        ('"order status"', '"order status"'),
        ('"order status" refund', '("order status" AND "refund")'),
        ('refund"order status"', '("refund" AND "order status")'),
        ("deliv*", '"deliv"*'),
        ("deliv**", '"deliv"*'),
        ('"order sta"*', '"order sta"*'),
        ("café", '"cafe"'),  # folded as the plain matcher folds it (indexed_text)
        ("ORD-12345", '"ORD-12345"'),
        ("e-mail -spam", '("e-mail" NOT "spam")'),
        # The operators, grouped by parentheses whatever FTS5's own precedence:
        ("refund AND order", '("refund" AND "order")'),
        ("a OR b", '("a" OR "b")'),
        ("a b OR c", '(("a" AND "b") OR "c")'),
        ("a (b OR c)", '("a" AND ("b" OR "c"))'),
        ("NOT a b -c", '(("b" NOT "a") NOT "c")'),
        ("a -(b OR c*)", '("a" NOT ("b" OR "c"*))'),
        ("a -(-b)", '("a" AND "b")'),
        # Other FTS5 syntax typed by a user is text, never syntax:
        ("and or not", '("and" AND "or" AND "not")'),
        ("NEAR(a b)", '("NEAR" AND "a" AND "b")'),
        ("content:refund", '"content:refund"'),
        ("^refund", '"^refund"'),
        ("refund -", '"refund"'),  # "-" alone has nothing to match: left out
        ("refund !!! ...", '"refund"'),
        ('refund ""', '"refund"'),
        ("re*fund", '"re*fund"'),
        ("nul\x00byte", '"nul byte"'),
        ("bell\x07", '"bell"'),
    ],
)
def test_match_expression(text, expression):
    assert match_expression(text) == expression


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "empty search query"),
        ("   \t\n", "empty search query"),
        ("*", "nothing to search for"),
        ("!!! --- ...", "nothing to search for"),
        ('""', "nothing to search for"),
        ('" "*', "nothing to search for"),
        ("\x00\x1b", "nothing to search for"),
        ('"order status', "unbalanced quote"),
        ('refund "order', "unbalanced quote"),
        ('don"t', "unbalanced quote"),
    ],
)
def test_queries_it_cannot_take(text, reason):
    with pytest.raises(InvalidSearchQuery) as caught:
        parse_query(text)
    assert reason in str(caught.value)
    assert isinstance(caught.value, MofaError)


def test_a_bad_query_is_refused_before_any_search_data_exists(index):
    with pytest.raises(InvalidSearchQuery, match="unbalanced quote"):
        search(index.conn, '"x')
    assert search_tables(index.conn) == []


def test_a_bad_query_is_a_usage_error_for_the_cli():
    from mofa.cli.errors import status_for

    assert status_for(InvalidSearchQuery("empty search query")) == 2


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_text_is_refused_or_searched_never_an_sqlite_error(text):
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(
            "CREATE VIRTUAL TABLE t USING fts5(content, tokenize = 'unicode61 remove_diacritics 2')"
        )
        conn.execute("INSERT INTO t (content) VALUES ('the quick brown fox')")
        try:
            expression = match_expression(text)
        except InvalidSearchQuery:
            return
        conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (expression,)).fetchall()
    finally:
        conn.close()


# -- what is searched --------------------------------------------------------------------------


def test_message_text_takes_every_string_inside_structured_content():
    content = {
        "name": "lookup",
        "args": {"city": "Paris", "days": 3, "ok": True},
        "results": ["sunny", {"note": "windy"}, None, 2.5],
    }
    assert message_text(content) == "lookup\nParis\nsunny\nwindy"
    assert message_text("plain") == "plain"
    assert message_text(None) == ""
    assert message_text(12) == ""


def test_message_text_of_deeply_nested_content():
    value = "deep"
    for _ in range(100_000):
        value = [value]
    assert message_text(value) == "deep"


# -- nobody searched: nobody pays ----------------------------------------------------------------


def test_no_search_data_until_someone_searches(root, index):
    write_session(root, "a", "s", [message("user", "refund please")])
    index.refresh()
    assert search_tables(index.conn) == []
    assert not search_exists(index.conn)
    assert search(index.conn, "refund") == []  # no data and no error: nothing built by a query
    assert search_tables(index.conn) == []


def test_the_first_search_builds_the_data(root, index):
    write_session(root, "a", "s", [message("user", "refund please")])
    write_jsonl(root, "tg:1", [message("user", "where is my refund", "2024-02-28T10:30:05Z")])
    index.refresh()
    reports = []
    assert (
        ensure_search(index.conn, index.root, lambda done, total: reports.append((done, total)))
        == 2
    )
    assert reports == [(2, 2)]
    assert search_exists(index.conn)
    assert index.meta("search") == search_module.SEARCH_VERSION
    assert {"search_messages", "search_messages_config"} <= set(search_tables(index.conn))
    assert sorted(ids(search(index.conn, "refund"))) == ["a:s", "tg:1"]
    assert ensure_search(index.conn, index.root) == 0  # the second time: nothing to read


# -- results -----------------------------------------------------------------------------------


@pytest.fixture
def corpus(root):
    write_session(
        root,
        "shop",
        "s1",
        [
            message("user", "Where is my order? It was a refund request."),
            message(
                "assistant",
                "Your order status is: shipped. The refund is pending.",
                "2024-02-28T10:31:00Z",
            ),
            message(
                "tool",
                {"name": "lookup", "result": ["order status shipped", {"carrier": "Café Express"}]},
                "2024-02-28T10:32:00Z",
            ),
        ],
        created_at="2024-03-01T10:00:00Z",
    )
    write_session(
        root,
        "shop",
        "s2",
        [
            message("user", "I want a refund"),
            message("assistant", "Deliveries are late this week."),
        ],
        created_at="2024-03-05T10:00:00Z",
    )
    write_session(
        root,
        "travel",
        "t1",
        [
            message("user", "Book a flight, then a hotel; refund if cancelled"),
        ],
        created_at="2024-03-09T10:00:00Z",
    )
    write_jsonl(
        root,
        "tg:42",
        [
            message("user", "status of my order?", "2024-03-07T10:00:05Z"),
            message("assistant", "Your ORDER-STATUS: delivered", "2024-03-07T10:00:09Z"),
        ],
        metadata={"agent_id": "telegram"},
        created_at="2024-03-07T10:00:00Z",
    )
    return root


def test_all_words_must_match(index, corpus):
    assert sorted(ids(find(index, "order"))) == ["shop:s1", "tg:42"]
    assert ids(find(index, "refund hotel")) == ["travel:t1"]
    assert find(index, "refund zebra") == []


def test_phrase_prefix_case_and_diacritics(index, corpus):
    assert sorted(ids(find(index, '"order status"'))) == ["shop:s1", "tg:42"]  # ORDER-STATUS too
    assert ids(find(index, '"status order"')) == []
    assert sorted(ids(find(index, "deliver*"))) == ["shop:s2", "tg:42"]
    assert ids(find(index, "CAFE")) == ["shop:s1"]  # structured content, diacritics folded
    assert ids(find(index, "carrier")) == []  # keys of structured content are not its text


def test_one_row_per_session_with_its_matches_and_a_snippet_of_the_first(index, corpus):
    (hit,) = find(index, "shipped")
    assert (hit.session_id, hit.agent, hit.created_at, hit.matches) == (
        "shop:s1",
        "shop",
        "2024-03-01T10:00:00.000000000Z",
        2,
    )
    assert (
        hit.snippet
        == f"Your order status is: {MARK_START}shipped{MARK_END}. The refund is pending."
    )
    assert list(snippet_parts(hit.snippet)) == [
        ("Your order status is: ", False),
        ("shipped", True),
        (". The refund is pending.", False),
    ]
    assert plain_snippet(hit.snippet) == "Your order status is: shipped. The refund is pending."


def test_best_first(root, index):
    write_session(
        root,
        "a",
        "once",
        [
            message(
                "user",
                "a long message about many things and a refund "
                "among other words that dilute it a lot",
            )
        ],
    )
    write_session(root, "a", "often", [message("user", "refund"), message("user", "refund refund")])
    write_session(root, "a", "twice", [message("user", "refund now"), message("user", "no")])
    # Most matching messages first, then the newest, then by id: as on every store.
    assert ids(find(index, "refund")) == ["a:often", "a:once", "a:twice"]


def test_filters(index, corpus):
    assert sorted(ids(find(index, "refund", agent="shop"))) == ["shop:s1", "shop:s2"]
    assert ids(find(index, "order", agent="telegram")) == ["tg:42"]
    assert ids(find(index, "order", agent="nobody")) == []
    assert ids(find(index, "refund", role="assistant")) == ["shop:s1"]
    (hit,) = find(index, "order", role="tool")
    assert (hit.session_id, hit.matches) == ("shop:s1", 1)
    with freeze_time("2024-03-10T10:00:00Z"):
        assert sorted(ids(find(index, "refund", since=when_text("7d")))) == ["shop:s2", "travel:t1"]
    assert sorted(ids(find(index, "refund", until=when_text("2024-03-05T10:00:00Z")))) == [
        "shop:s1"
    ]
    assert sorted(ids(find(index, "refund", until=when_text("2024-03-05T10:00:00.1Z")))) == [
        "shop:s1",
        "shop:s2",
    ]
    assert ids(
        find(index, "refund", since=when_text("2024-03-02"), until=when_text("2024-03-06"))
    ) == ["shop:s2"]
    assert len(find(index, "refund", limit=2)) == 2
    assert find(index, "refund", limit=0) == []
    assert len(find(index, "refund", limit=None)) == 3


def test_since_is_inclusive_and_until_exclusive(index, corpus):
    at = "2024-03-09T10:00:00.000000000Z"
    assert ids(find(index, "hotel", since=at, until="2024-03-09T10:00:00.000000001Z")) == [
        "travel:t1"
    ]
    assert ids(find(index, "hotel", since=at, until=at)) == []


def test_text_sqlite_cannot_hold_and_snippet_marks_are_stored_safely(root, index):
    write_session(
        root, "a", "s", [message("user", f"lone \ud800 surrogate and {MARK_START}mark{MARK_END}s")]
    )
    (hit,) = find(index, "surrogate")
    assert plain_snippet(hit.snippet) == "lone \ufffd surrogate and  mark s"
    assert ids(find(index, "mark")) == ["a:s"]


# -- freshness ---------------------------------------------------------------------------------


def test_changes_deletions_and_new_sessions_are_caught_up(root, index, settled):
    write_session(root, "a", "keep", [message("user", "alpha")])
    changed = write_session(root, "a", "change", [message("user", "alpha beta")])
    gone = write_jsonl(root, "k:gone", [message("user", "alpha gamma")])
    assert len(find(index, "alpha")) == 3
    write_session(root, "a", "change", [message("user", "delta only")])
    os.utime(changed, ns=(1, 1))  # a stat the row cannot have had
    gone.unlink()
    write_session(root, "b", "new", [message("user", "alpha epsilon")])
    index.refresh()
    assert ensure_search(index.conn, index.root) == 2  # the changed file and the new one: no more
    assert sorted(ids(search(index.conn, "alpha"))) == ["a:keep", "b:new"]
    assert ids(search(index.conn, "delta")) == ["a:change"]
    assert search(index.conn, "gamma") == []
    assert index.conn.execute("SELECT count(*) FROM search_sessions").fetchone()[0] == 3


def test_search_never_shows_a_session_the_index_no_longer_has(root, index):
    path = write_session(root, "a", "s", [message("user", "alpha")])
    assert ids(find(index, "alpha")) == ["a:s"]
    path.unlink()
    index.refresh()  # no catch-up yet: the search data still holds the text
    assert search(index.conn, "alpha") == []


def test_an_interrupted_build_is_completed_by_the_next_search(root, index, monkeypatch):
    monkeypatch.setattr(search_module, "SEARCH_BATCH", 2)
    for number in range(5):
        write_session(root, "a", f"s{number}", [message("user", f"alpha number{number}")])
    index.refresh()

    def interrupt(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ensure_search(index.conn, index.root, interrupt)
    assert index.conn.execute("SELECT count(*) FROM search_sessions").fetchone()[0] == 2
    assert ensure_search(index.conn, index.root) == 3
    assert len(search(index.conn, "alpha")) == 5


def test_search_data_of_another_version_is_rebuilt(root, index):
    write_session(root, "a", "s", [message("user", "alpha")])
    find(index, "alpha")
    index.conn.execute("UPDATE meta SET value = 'old' WHERE key = 'search'")
    index.conn.execute("INSERT INTO search_messages (rowid, content) VALUES (99, 'stale')")
    assert ensure_search(index.conn, index.root) == 1
    assert search(index.conn, "stale") == []
    assert ids(search(index.conn, "alpha")) == ["a:s"]


def test_unreadable_sessions_are_left_for_later(root, index, settled):
    path = write_session(root, "a", "s", [message("user", "alpha")])
    index.refresh()
    path.write_text("{not json")
    os.utime(path, ns=(3, 3))
    assert ensure_search(index.conn, index.root) == 1  # read, found changed: nothing recorded
    assert search(index.conn, "alpha") == []
    write_session(root, "a", "s", [message("user", "alpha again")])
    assert ids(find(index, "again")) == ["a:s"]


def test_search_data_survives_a_rebuild_of_the_index(root, index, settled):
    write_session(root, "a", "s", [message("user", "alpha")])
    find(index, "alpha")
    index.rebuild()
    assert pending(index.conn) == ["a:s"]  # its row was rewritten...
    assert ensure_search(index.conn, index.root) == 0  # ...as it was: no file read again
    assert pending(index.conn) == []
    assert ids(search(index.conn, "alpha")) == ["a:s"]


def pending(conn):
    return [row[0] for row in conn.execute("SELECT session_id FROM search_pending ORDER BY 1")]


def triggers(conn):
    return sorted(
        row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    )


def test_every_refresh_queues_what_it_changed_once_search_exists(root, index, settled):
    write_session(root, "a", "s1", [message("user", "alpha")])
    write_session(root, "a", "s2", [message("user", "alpha")])
    index.refresh()
    assert triggers(index.conn) == []  # nobody searched: refreshes pay nothing
    find(index, "alpha")
    assert triggers(index.conn) == [
        "search_queue_delete",
        "search_queue_insert",
        "search_queue_update",
    ]
    assert pending(index.conn) == []
    write_session(root, "a", "s1", [message("user", "beta")])
    os.utime(root / "a" / "s1.json", ns=(5, 5))
    write_jsonl(root, "k:new", [message("user", "beta")])
    (root / "a" / "s2.json").unlink()
    index.refresh()
    assert pending(index.conn) == ["a:s1", "a:s2", "k:new"]
    assert ensure_search(index.conn, index.root) == 2
    assert pending(index.conn) == []
    assert sorted(ids(search(index.conn, "beta"))) == ["a:s1", "k:new"]
    assert search(index.conn, "alpha") == []


def test_a_search_with_nothing_queued_takes_no_write_lock(root, index, tmp_path):
    write_session(root, "a", "s", [message("user", "alpha")])
    find(index, "alpha")
    writer = sqlite3.connect(str(tmp_path / "index.db"), isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # another process writing, for as long as it likes
        index.conn.execute("PRAGMA busy_timeout = 0")
        assert ensure_search(index.conn, index.root) == 0
        assert ids(search(index.conn, "alpha")) == ["a:s"]
        writer.execute("ROLLBACK")
    finally:
        writer.close()


def test_dropping_the_search_data_makes_refreshes_free_again(root, index):
    from indexer.index.search import drop_search
    from indexer.index.transactions import write_transaction

    write_session(root, "a", "s", [message("user", "alpha")])
    find(index, "alpha")
    with write_transaction(index.conn):
        drop_search(index.conn)
    assert search_tables(index.conn) == [] and triggers(index.conn) == []
    assert index.meta("search") is None


def test_the_sqlite_shell_can_read_the_search_data(root, index, corpus):
    find(index, "refund")
    rows = index.conn.execute(
        "SELECT x.session_id, g.role FROM search_messages m"
        " JOIN search_blocks b ON b.id = m.rowid >> 4 JOIN search_sessions x ON x.id = b.session"
        " JOIN search_rows r ON r.id = m.rowid"
        " JOIN search_roles g ON g.id = r.role WHERE search_messages MATCH '\"hotel\"'"
    ).fetchall()
    assert rows == [("travel:t1", "user")]
    assert json.loads(json.dumps([tuple(row) for row in rows])) == [["travel:t1", "user"]]


# -- the search agrees with a plain reading of the text ------------------------------------------

VOCABULARY = [
    "alpha",
    "Alpha",
    "ALPHA",
    "alphabet",
    "beta",
    "bêta",
    "gamma",
    "delta",
    "Délta",
    "al",
]
SEPARATORS = [" ", ", ", "-", "\n", "; ", "'"]


def folded_tokens(text):
    import re
    import unicodedata

    plain = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return re.findall(r"[^\W_]+", plain.casefold())


def satisfies(tokens, terms):
    for term in terms:
        words = folded_tokens(term.text)
        if term.prefix:
            words[-1:] = []
            last = folded_tokens(term.text)[-1]
        spans = range(len(tokens) - len(words) - (1 if term.prefix else 0) + 1)
        if not any(
            tokens[i : i + len(words)] == words
            and (not term.prefix or tokens[i + len(words)].startswith(last))
            for i in spans
        ):
            return False
    return True


session_texts = st.lists(
    st.lists(
        st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=6)
        .flatmap(
            lambda words: st.tuples(
                st.just(words),
                st.lists(st.sampled_from(SEPARATORS), min_size=len(words), max_size=len(words)),
            )
        )
        .map(lambda pair: "".join(w + s for w, s in zip(*pair, strict=True)).strip()),
        min_size=1,
        max_size=4,
    ),
    min_size=1,
    max_size=6,
)


def holds(tokens, node):
    """Whether a message of `tokens` matches the parsed query `node`, read term by term."""
    from mofa.searching import And, Not, Or

    if isinstance(node, Not):
        return not holds(tokens, node.operand)
    if isinstance(node, And):
        return all(holds(tokens, operand) for operand in node.operands)
    if isinstance(node, Or):
        return any(holds(tokens, operand) for operand in node.operands)
    return satisfies(tokens, [node])


# Each term after the first joined by a space, AND, OR, `-` or NOT: each side of an OR starts
# with a term to find, so every query is one the language takes.
queries = st.lists(
    st.tuples(
        st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=2),
        st.booleans(),
        st.sampled_from([" ", " AND ", " OR ", " -", " NOT "]),
    ),
    min_size=1,
    max_size=3,
).map(
    lambda terms: "".join(
        ("" if index == 0 else joiner)
        + (f'"{" ".join(words)}"' if len(words) > 1 else words[0])
        + ("*" if prefix else "")
        for index, (words, prefix, joiner) in enumerate(terms)
    )
)


@settings(max_examples=150, deadline=None)
@given(sessions=session_texts, query=queries)
def test_results_agree_with_reading_the_text(tmp_path_factory, sessions, query):
    """Which sessions match, and how many of their messages, as reading each message's words
    (case and diacritics folded) says: all words, phrases as consecutive words, prefixes, and
    OR, AND and negations of them."""
    from indexer.index.database import open_index
    from indexer.index.search import parse_query
    from mofa.session import JSON_LAYOUT, Session

    place = tmp_path_factory.mktemp("search")
    conn = open_index(str(place / "index.db"), str(place / "root"))
    try:
        built = []
        for number, texts in enumerate(sessions):
            path = write_session(
                place / "root", "a", f"s{number}", [message("user", t) for t in texts]
            )
            session = Session(
                f"a:s{number}",
                "a",
                f"s{number}",
                JSON_LAYOUT,
                str(path),
                {"created_at": "2024-01-01T00:00:00Z"},
                [message("user", t) for t in texts],
                0,
            )
            conn.execute(
                "INSERT INTO sessions (session_id, agent, name, created_at, message_count, status,"
                " path, dir, file, size, mtime_ns, inode, ctime_ns)"
                " VALUES (?, 'a', ?, ?, ?, 'active', ?, 'a', ?, 1, 1, ?, 1)",
                (
                    session.session_id,
                    session.name,
                    "2024-01-01T00:00:00Z",
                    len(texts),
                    session.path,
                    session.name + ".json",
                    number,
                ),
            )
            built.append(session)
        # The rows' stamps differ from the files': the search reads every file.
        assert ensure_search(conn, str(place / "root")) == len(built)
        terms = parse_query(query)
        expected = {}
        for session, texts in zip(built, sessions, strict=True):
            count = sum(holds(folded_tokens(text), terms) for text in texts)
            if count:
                expected[session.session_id] = count
        hits = search(conn, query, SearchFilter(limit=None))
        assert {hit.session_id: hit.matches for hit in hits} == expected
        assert all(MARK_START in hit.snippet for hit in hits)
    finally:
        conn.close()
