"""The search data keeps only an index of the sessions' text: snippets come from the files as
they are now, a changed or deleted session is never a hit, a session that only grew keeps its
rows, retired rows are rebuilt away, and the whole index stays small."""

from __future__ import annotations

import contextlib
import datetime
import os
import sqlite3
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.index import search as search_module
from indexer.index.search import (
    SearchFilter,
    ensure_search,
    search_counts,
    search_page,
    timestamp_base,
    timestamp_sql,
    timestamp_value,
)
from indexer.store import IndexedSessionStore
from mofa.errors import InvalidSearchQuery
from mofa.searching import message_text, plain_snippet
from mofa.stores.files import FileSessionStore
from mofa.stores.rows import SessionFilter
from tests.helpers import REPO, message, write_jsonl, write_session

# The whole index, search data included, against the sessions' bytes of 1,000 realistic
# sessions (0.68 to 0.77 measured there, with up to 0.6 MB of pages FTS5's merges freed during
# the build, which later writes reuse; 0.6 on 100,000: the share falls as the tree grows, each
# word's list of messages getting denser).
INDEX_SHARE = 0.8


def built(index):
    index.refresh()
    ensure_search(index.conn, index.root)


def session_keys(conn):
    return dict(conn.execute("SELECT session_id, id FROM search_sessions").fetchall())


# -- snippets from the files as they are now ---------------------------------------------------


def test_a_hit_whose_file_changed_since_it_was_indexed_is_left_out_and_named(root, index):
    changed = write_session(root, "a", "changed", [message("user", "alpha old words")])
    write_session(root, "a", "kept", [message("user", "alpha kept")])
    gone = write_session(root, "a", "gone", [message("user", "alpha gone")])
    built(index)
    write_session(root, "a", "changed", [message("user", "alpha new words, longer")])
    gone.unlink()
    page = search_page(index.conn, "alpha", SearchFilter(limit=None))
    assert [hit.session_id for hit in page.hits] == ["a:kept"]
    assert sorted(page.stale) == [("a", "changed.json"), ("a", "gone.json")]
    assert changed.exists()


def test_the_best_are_found_when_better_counted_sessions_have_no_row_in_the_listing(root, index):
    """A page is cut at the limit-th best count; sessions counted but gone from `sessions`
    (deleted since the search data was read) do not make the cut leave out true hits."""
    for number in range(4):
        write_session(root, "a", f"s{number}", [message("user", "alpha")] * (4 - number))
    built(index)
    index.conn.execute("DELETE FROM sessions WHERE session_id IN ('a:s0', 'a:s1')")
    page = search_page(index.conn, "alpha", SearchFilter(limit=2))
    assert [(hit.session_id, hit.matches) for hit in page.hits] == [("a:s2", 2), ("a:s3", 1)]


def changing_store(root, index_path, change):
    """A store whose first search data build is followed, before the search reads the hits,
    by `change` (run once): what a write between the build and the snippets does."""
    pending = [change]

    def progress(label):
        def report(done, total):
            if done == total and pending:
                pending.pop()()

        return report

    return IndexedSessionStore(str(root), str(index_path), progress=progress)


def test_snippet_and_matches_follow_the_file_changed_after_the_build(root, tmp_path):
    write_session(root, "a", "s", [message("user", "alpha one"), message("user", "beta")])
    write_session(root, "a", "t", [message("user", "alpha two")])

    def rewrite():
        write_session(
            root,
            "a",
            "s",
            [message("user", "beta"), message("user", "now alpha"), message("user", "alpha x")],
        )

    store = changing_store(root, tmp_path / "index.db", rewrite)
    try:
        hits = store.search("alpha", SessionFilter(limit=None))
    finally:
        store.close()
    assert [(hit.session_id, hit.matches, hit.message) for hit in hits] == [
        ("a:s", 2, 2),
        ("a:t", 1, 1),
    ]
    assert plain_snippet(hits[0].snippet) == "now alpha"
    assert hits == FileSessionStore(str(root)).search("alpha", SessionFilter(limit=None))


def test_no_hit_for_a_session_deleted_after_the_build(root, tmp_path):
    doomed = write_session(root, "a", "doomed", [message("user", "alpha")])
    write_session(root, "a", "kept", [message("user", "alpha")])
    store = changing_store(root, tmp_path / "index.db", doomed.unlink)
    try:
        assert [hit.session_id for hit in store.search("alpha")] == ["a:kept"]
    finally:
        store.close()


def test_no_hit_for_a_changed_sessions_old_text(root, index):
    write_session(root, "a", "s", [message("user", "alpha"), message("user", "beta")])
    built(index)
    write_session(root, "a", "s", [message("user", "gamma")])
    built(index)
    assert search_page(index.conn, "alpha").hits == []
    assert search_page(index.conn, "beta").hits == []
    assert [hit.session_id for hit in search_page(index.conn, "gamma").hits] == ["a:s"]


# -- appended, rewritten, deleted: kept, retired, rebuilt --------------------------------------


def test_a_session_that_only_grew_keeps_its_rows_and_gets_only_the_new_ones(root, index, settled):
    messages = [message("user", f"alpha {number}") for number in range(3)]
    write_session(root, "a", "chat", messages)
    built(index)
    key = session_keys(index.conn)["a:chat"]
    for number in range(3, 40):  # message by message, past several blocks of 16
        messages.append(message("assistant" if number % 2 else "user", f"alpha beta {number}"))
        write_session(root, "a", "chat", messages)
        os.utime(root / "a" / "chat.json", ns=(number, number))
        built(index)
        assert session_keys(index.conn) == {"a:chat": key}
    assert search_counts(index.conn) == (40, 0)  # nothing retired
    (hit,) = search_page(index.conn, "beta", SearchFilter(role="assistant")).hits
    assert (hit.matches, hit.message) == (19, 4)
    rows = index.conn.execute(
        "SELECT position, role FROM messages WHERE session_id = 'a:chat' ORDER BY position"
    ).fetchall()
    assert rows == [(n + 1, "assistant" if n % 2 and n >= 3 else "user") for n in range(40)]


def test_a_rewritten_session_is_indexed_under_a_new_key_and_its_old_rows_retired(
    root, index, settled
):
    write_session(root, "a", "s", [message("user", "alpha"), message("user", "beta")])
    write_session(root, "a", "t", [message("user", "gamma")])
    built(index)
    before = session_keys(index.conn)
    write_session(root, "a", "s", [message("user", "alpha changed"), message("user", "beta")])
    os.utime(root / "a" / "s.json", ns=(7, 7))
    built(index)
    after = session_keys(index.conn)
    assert after["a:t"] == before["a:t"] and after["a:s"] > max(before.values())
    assert search_counts(index.conn) == (3, 2)
    (root / "a" / "t.json").unlink()
    built(index)
    assert search_counts(index.conn) == (2, 3)
    assert [hit.session_id for hit in search_page(index.conn, "alpha").hits] == ["a:s"]
    assert search_page(index.conn, "gamma").hits == []


def test_retired_rows_past_their_share_rebuild_the_search_data(root, index, settled, monkeypatch):
    monkeypatch.setattr(search_module, "RETIRED_MIN", 0)
    for number in range(8):
        write_session(root, "a", f"s{number}", [message("user", f"alpha word{number}")])
    built(index)
    assert search_counts(index.conn) == (8, 0)
    for number in range(2):  # 2 retired rows: not more than a quarter of the 8 live ones
        write_session(root, "a", f"s{number}", [message("user", f"beta word{number}")])
        os.utime(root / "a" / f"s{number}.json", ns=(5, 5))
    index.refresh()
    assert ensure_search(index.conn, index.root) == 2
    assert search_counts(index.conn) == (8, 2)
    write_session(root, "a", "s2", [message("user", "beta word2")])
    os.utime(root / "a" / "s2.json", ns=(5, 5))
    index.refresh()
    # The third: 3 > 8 / 4, so every session is read again and nothing stays retired.
    assert ensure_search(index.conn, index.root) == 1 + 8
    assert search_counts(index.conn) == (8, 0)
    fts_rows = index.conn.execute(
        "SELECT count(*) FROM search_messages WHERE search_messages MATCH 'word0 OR word1 OR"
        " word2 OR word3 OR word4 OR word5 OR word6 OR word7'"
    ).fetchone()[0]
    assert fts_rows == 8  # the retired rows are gone from FTS5 itself
    assert len(search_page(index.conn, "beta").hits) == 3
    assert len(search_page(index.conn, "alpha").hits) == 5


@pytest.mark.parametrize("role", ["", "7", "None", "user"])
def test_a_role_filter_finds_the_messages_of_that_very_role_as_reading_the_files_does(
    root, index, role
):
    write_session(
        root,
        "a",
        "s",
        [
            message("user", "alpha"),
            message("", "alpha"),
            message(None, "alpha"),
            message(7, "alpha"),
            {"content": "alpha"},
        ],
    )
    store = IndexedSessionStore(str(root), index.path)
    try:
        hits = store.search("alpha", role=role)
    finally:
        store.close()
    assert hits == FileSessionStore(str(root)).search("alpha", role=role)
    assert [hit.matches for hit in hits] == ([1] if role in ("", "user") else [])


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("\ufb01ne", "fine"),
        ("fine", "\ufb01ne"),
        ("\u01c5emo", "d\u017eemo"),
        ("Stra\u00dfe", "strasse"),
        ("\u00bd cup", "1"),
        ("\uff02quoted\uff02 word", '"\uff02quoted"'),
        ("caf\u00e9 \ufb01n", '"cafe fi*"'),
    ],
)
def test_compatibility_characters_match_alike_on_every_store(root, index, text, query):
    write_session(root, "a", "s", [message("user", text)])
    store = IndexedSessionStore(str(root), index.path)
    try:
        hits = store.search(query)
    finally:
        store.close()
    assert hits == FileSessionStore(str(root)).search(query)


# -- the messages view ------------------------------------------------------------------------

TIMES = [
    "2024-02-28T10:30:05Z",
    "2024-07-29T17:31:02.065+00:00",
    "2024-07-29T17:31:02.123456Z",
    "2024-03-07T10:00:05.123456789Z",
    "2024-03-07T10:00:05+02:00",
    "2024-02-30T10:00:00Z",
    "yesterday",
    "1969-12-31T23:59:59Z",
    None,
    "2023-01-01T00:00:00.123Z",  # before its block's first time
    "2261-12-31T23:59:59.999999999Z",
]


def test_the_messages_view_gives_every_message_as_its_file_says(root, index):
    messages = [
        message("user", "plain text", TIMES[0]),
        message("assistant", {"tool": "lookup", "result": ["a", {"b": "c"}]}, TIMES[1]),
        message(None, "no role", TIMES[2]),
        message(7, "", TIMES[3]),
        message("", "empty role", TIMES[3]),
        message("tool", None, TIMES[4]),
        *(message("user", f"m{n}", time) for n, time in enumerate(TIMES[5:] * 3)),
    ]
    write_session(root, "a", "s", messages)
    write_jsonl(root, "k:1", [message("user", "jsonl", "2024-03-07T10:00:05.000000001Z")])
    built(index)
    expected = [
        ("a:s", position, item.get("role"), item.get("timestamp"), item)
        for position, item in enumerate(messages, 1)
        if isinstance(item, dict)
    ]
    rows = index.conn.execute(
        "SELECT session_id, position, role, timestamp, chars FROM messages"
        " ORDER BY session_id, position"
    ).fetchall()
    assert rows == [
        (
            session_id,
            position,
            role if isinstance(role, str) else None,
            timestamp,
            len(message_text(item.get("content"))),
        )
        for session_id, position, role, timestamp, item in expected
    ] + [("k:1", 1, "user", "2024-03-07T10:00:05.000000001Z", 5)]


timestamps = st.one_of(
    st.datetimes(
        min_value=datetime.datetime(1900, 1, 1), max_value=datetime.datetime(9999, 12, 31)
    ).flatmap(
        lambda moment: st.sampled_from(
            [
                moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + zone
                for fraction in (
                    "",
                    f".{moment.microsecond // 1000:03d}",
                    f".{moment.microsecond:06d}",
                    f".{moment.microsecond:06d}123",
                    ".5",
                )
                for zone in ("Z", "+00:00", "-05:00", "")
            ]
        )
    ),
    st.text(max_size=30),
)


@settings(max_examples=400, deadline=None)
@given(text=timestamps, base=st.one_of(st.integers(0, 253402300799), st.just(None)))
def test_a_timestamp_is_written_back_as_it_was(text, base):
    """Kept from its block's base (the first time of the block, or any other) and written
    back by the view's SQL, character for character."""
    if base is None:
        base = timestamp_base(text) or 0
    conn = sqlite3.connect(":memory:")
    with contextlib.closing(conn):
        conn.execute("CREATE TABLE t (v, base)")
        conn.execute("INSERT INTO t VALUES (?, ?)", (timestamp_value(text, base), base))
        assert conn.execute(f"SELECT {timestamp_sql('v', 'base')} FROM t").fetchone()[0] == text


# -- the index's size --------------------------------------------------------------------------


def tree_bytes(root) -> int:
    return sum(
        os.path.getsize(os.path.join(directory, name))
        for directory, _, names in os.walk(root)
        for name in names
    )


def test_the_index_with_its_search_data_is_smaller_than_the_sessions(tmp_path):
    root = tmp_path / "sessions"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "generate_sessions.py"),
            "--root",
            str(root),
            "-n",
            "1000",
            "-a",
            "5",
            "--realistic",
        ],
        check=True,
        capture_output=True,
    )
    index_path = tmp_path / "index.db"
    store = IndexedSessionStore(str(root), str(index_path))
    try:
        assert store.search("the")
        store.index.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        store.close()
    assert os.path.getsize(index_path) < INDEX_SHARE * tree_bytes(root)


# -- every kind of query agrees with reading the files ------------------------------------------

WORDS = ["alpha", "Alpha", "ÀLPHA", "alphabet", "beta", "bêta", "gamma", "Délta", "al", "the"]
SEPARATORS = [" ", ", ", "-", "\n", "; ", "'", "! ", "."]
ROLES = ["user", "assistant", "tool"]

texts = st.lists(
    st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPARATORS)), min_size=1, max_size=6
).map(lambda pairs: "".join(word + separator for word, separator in pairs))
messages_ = st.lists(st.tuples(st.sampled_from(ROLES), texts), min_size=1, max_size=5)

term = st.tuples(st.lists(st.sampled_from(WORDS), min_size=1, max_size=2), st.booleans()).map(
    lambda pair: (
        (f'"{" ".join(pair[0])}"' if len(pair[0]) > 1 else pair[0][0]) + ("*" if pair[1] else "")
    )
)
queries = st.recursive(
    term,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from([" ", " AND ", " OR ", " -", " NOT "]), inner).map(
            "".join
        ),
        inner.map(lambda text: f"({text})"),
    ),
    max_leaves=4,
)

steps = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(0, 5), messages_),
        st.tuples(st.just("rewrite"), st.integers(0, 5), messages_),
        st.tuples(st.just("delete"), st.integers(0, 5), st.just(None)),
        st.tuples(
            st.just("search"),
            queries,
            st.tuples(
                st.sampled_from([None, *ROLES]),
                st.sampled_from([None, "a", "b", "telegram"]),
                st.sampled_from([None, 1, 2, 5]),
            ),
        ),
    ),
    min_size=1,
    max_size=8,
)


def write(root, number: int, messages: list) -> None:
    items = [
        message(role, text, f"2024-03-0{1 + position % 9}T10:00:00Z")
        for position, (role, text) in enumerate(messages)
    ]
    created = f"2024-02-0{1 + number % 3}T10:00:00Z"  # some ties: then the id decides
    if number == 5:
        write_jsonl(root, "k:5", items, metadata={"agent_id": "telegram"}, created_at=created)
    else:
        write_session(root, "ab"[number % 2], f"s{number}", items, created_at=created)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(first=st.lists(messages_, min_size=1, max_size=6), steps=steps)
def test_the_index_gives_the_rows_of_reading_the_files(tmp_path_factory, first, steps):
    """Ids, order, matches, first message and snippet, for queries of every kind, as sessions
    are appended to, rewritten and deleted between searches."""
    place = tmp_path_factory.mktemp("tree")
    root = place / "sessions"
    root.mkdir()
    held = {}
    for number, messages in enumerate(first):
        write(root, number, messages)
        held[number] = list(messages)
    indexed = IndexedSessionStore(str(root), str(place / "index.db"))
    files = FileSessionStore(str(root))
    try:
        for kind, what, how in [*steps, ("search", "alpha", (None, None, None))]:
            if kind == "search":
                role, agent, limit = how
                wanted = SessionFilter(agent=agent, limit=limit)
                try:
                    expected = files.search(what, wanted, role)
                except InvalidSearchQuery:
                    with pytest.raises(InvalidSearchQuery):
                        indexed.search(what, wanted, role)
                    continue
                assert indexed.search(what, wanted, role) == expected, what
            elif kind == "delete":
                if what in held:
                    path = (
                        root / "k:5.jsonl" if what == 5 else root / "ab"[what % 2] / f"s{what}.json"
                    )
                    path.unlink()
                    del held[what]
            else:
                held[what] = (held.get(what, []) if kind == "append" else []) + how
                write(root, what, held[what])
    finally:
        indexed.close()
