"""Per-session word counts (migration m004): for each session and each word of its messages,
in how many of its messages the word is. Search bounds a session's number of matching
messages with them (mofa.stores.postgres.ranking) instead of counting a common word's million
messages.

The database keeps the table right itself: statement-level triggers on `mofa_messages` (with
transition tables, one upsert per statement however many rows it wrote) add the distinct words
of each inserted message, take away those of each deleted one, and both for an update of
`words` (`index rebuild`). So every write path (save, replace, append, delete and its cascade,
the mirror, COPY) keeps it exact with no code of its own.
"""

from __future__ import annotations

TABLE = "mofa_session_words"

# The distinct words of each message of a transition table `{rows}`, as (origin, session_id,
# word, +1/-1): `words` is its words each between two U+001F, so splitting yields '' at the ends.
_DISTINCT = (
    "SELECT r.origin, r.session_id, w.word, {sign} AS n FROM {rows} r,"
    " LATERAL (SELECT DISTINCT word FROM unnest(string_to_array(r.words, chr(31))) AS u(word)"
    "          WHERE word <> '') w WHERE r.words <> ''")

# Apply (origin, session_id, word, change) rows: add to existing counts, insert new words,
# then (when something was taken away) drop the rows that fell to zero, found by their key.
# Sorted, so that two writers lock rows in one order.
_APPLY = """
    INSERT INTO mofa_session_words AS t (origin, session_id, word, messages)
    SELECT origin, session_id, word, sum(n) FROM ({changes}) c
    GROUP BY origin, session_id, word HAVING sum(n) <> 0
    ORDER BY origin, session_id, word
    ON CONFLICT (origin, session_id, word) DO UPDATE SET messages = t.messages + EXCLUDED.messages;
"""
_DROP = """
    DELETE FROM mofa_session_words t USING ({removed}) c
    WHERE t.origin = c.origin AND t.session_id = c.session_id AND t.word = c.word
    AND t.messages <= 0;
"""


def _function(name: str, changes: str, removed: str | None) -> str:
    body = _APPLY.format(changes=changes) + (_DROP.format(removed=removed) if removed else "")
    # SET search_path FROM CURRENT: the table of the schema the function was made in, whatever
    # search path the writer has (an admin may write to mofa_messages schema-qualified).
    return (f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql"
            " SET search_path FROM CURRENT AS $f$"
            f" BEGIN {body} RETURN NULL; END $f$")


def create(conn) -> None:
    """The table, its triggers and its contents, in the caller's transaction (the triggers
    lock `mofa_messages` against writers until it commits, so none is missed or doubled)."""
    conn.execute(
        f"""
        CREATE TABLE {TABLE} (
            origin     text COLLATE "C" NOT NULL,
            session_id text COLLATE "C" NOT NULL,
            word       text COLLATE "C" NOT NULL,
            messages   integer NOT NULL
        )
        """)
    conn.execute(f"COMMENT ON TABLE {TABLE} IS 'in how many messages of each session each word"
                 " is (kept by triggers on mofa_messages; mofa.stores.postgres.words)'")
    added = _DISTINCT.format(rows="added", sign=1)
    removed = _DISTINCT.format(rows="removed", sign=-1)
    conn.execute(_function("mofa_words_added", added, None))
    conn.execute(_function("mofa_words_removed", removed, removed))
    conn.execute(_function("mofa_words_changed", f"{added} UNION ALL {removed}", removed))
    conn.execute("CREATE TRIGGER mofa_words_added AFTER INSERT ON mofa_messages"
                 " REFERENCING NEW TABLE AS added FOR EACH STATEMENT"
                 " EXECUTE FUNCTION mofa_words_added()")
    conn.execute("CREATE TRIGGER mofa_words_removed AFTER DELETE ON mofa_messages"
                 " REFERENCING OLD TABLE AS removed FOR EACH STATEMENT"
                 " EXECUTE FUNCTION mofa_words_removed()")
    conn.execute("CREATE TRIGGER mofa_words_changed AFTER UPDATE ON mofa_messages"
                 " REFERENCING NEW TABLE AS added OLD TABLE AS removed FOR EACH STATEMENT"
                 " EXECUTE FUNCTION mofa_words_changed()")
    conn.execute(f"INSERT INTO {TABLE} (origin, session_id, word, messages)"
                 f" SELECT origin, session_id, word, count(*) FROM ("
                 f"{_DISTINCT.format(rows='mofa_messages', sign=1)}) d"
                 " GROUP BY origin, session_id, word")
    # Indexes once it is filled (a sorted build, compact): the key, in session order (what
    # the triggers look up: a session's words are neighbours), and in each word the sessions
    # with the most messages holding it first, for best-first search to read in order.
    conn.execute(f"ALTER TABLE {TABLE} ADD PRIMARY KEY (origin, session_id, word)")
    conn.execute(f"CREATE INDEX {TABLE}_by_word ON {TABLE} (word, messages DESC, origin, session_id)")
    conn.execute(f"ANALYZE {TABLE}")


def stale(conn, limit: int = 1000) -> list[tuple[str, str, str]]:
    """(origin, session_id, word) where the table disagrees with the messages (at most
    `limit`): what `index verify` reports and `index rebuild` recounts."""
    counted = (f"SELECT origin, session_id, word, count(*)::integer AS messages FROM ("
               f"{_DISTINCT.format(rows='mofa_messages', sign=1)}) d"
               " GROUP BY origin, session_id, word")
    return conn.execute(
        f"SELECT coalesce(c.origin, t.origin), coalesce(c.session_id, t.session_id),"
        f" coalesce(c.word, t.word) FROM ({counted}) c FULL JOIN {TABLE} t"
        " ON t.origin = c.origin AND t.session_id = c.session_id AND t.word = c.word"
        " WHERE c.messages IS DISTINCT FROM t.messages ORDER BY 2, 1, 3 LIMIT %s",
        (limit,)).fetchall()


def recount(conn, sessions: list[tuple[str, str]]) -> None:
    """Count the words of these (origin, session_id) afresh, in one transaction that locks
    their session rows (a save or an append of them waits, none is lost)."""
    if not sessions:
        return
    origins, ids = [origin for origin, _ in sessions], [session_id for _, session_id in sessions]
    given = "unnest(%s::text[], %s::text[]) AS g(origin, session_id)"
    with conn.transaction():
        conn.execute(f"SELECT 1 FROM mofa_sessions s JOIN {given} USING (origin, session_id)"
                     " ORDER BY s.origin, s.session_id FOR UPDATE OF s", (origins, ids))
        conn.execute(f"DELETE FROM {TABLE} t USING {given}"
                     " WHERE t.origin = g.origin AND t.session_id = g.session_id", (origins, ids))
        mine = f"(SELECT m.* FROM mofa_messages m JOIN {given} USING (origin, session_id))"
        conn.execute(f"INSERT INTO {TABLE} (origin, session_id, word, messages)"
                     f" SELECT origin, session_id, word, count(*) FROM ("
                     f"{_DISTINCT.format(rows=mine, sign=1)}) d GROUP BY origin, session_id, word",
                     (origins, ids))
