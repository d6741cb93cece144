"""Per-session word counts as migration m004 made them (counts only), kept verbatim: a
shipped migration is never edited, and m005 (mofa.stores.postgres.words) replaces what this
made with counts and positions.
"""

from __future__ import annotations

TABLE = "mofa_session_words"

# The distinct words of each message of a transition table `{rows}`, as (origin, session_id,
# word, +1/-1): `words` is its words each between two U+001F, so splitting yields '' at the ends.
_DISTINCT_V4 = (
    "SELECT r.origin, r.session_id, w.word, {sign} AS n FROM {rows} r,"
    " LATERAL (SELECT DISTINCT word FROM unnest(string_to_array(r.words, chr(31))) AS u(word)"
    "          WHERE word <> '') w WHERE r.words <> ''"
)

# Apply (origin, session_id, word, change) rows: add to existing counts, insert new words,
# then (when something was taken away) drop the rows that fell to zero, found by their key.
# Sorted, so that two writers lock rows in one order.
_APPLY_V4 = """
    INSERT INTO mofa_session_words AS t (origin, session_id, word, messages)
    SELECT origin, session_id, word, sum(n) FROM ({changes}) c
    GROUP BY origin, session_id, word HAVING sum(n) <> 0
    ORDER BY origin, session_id, word
    ON CONFLICT (origin, session_id, word) DO UPDATE SET messages = t.messages + EXCLUDED.messages;
"""
_DROP_V4 = """
    DELETE FROM mofa_session_words t USING ({removed}) c
    WHERE t.origin = c.origin AND t.session_id = c.session_id AND t.word = c.word
    AND t.messages <= 0;
"""


def _function_v4(name: str, changes: str, removed: str | None) -> str:
    body = _APPLY_V4.format(changes=changes) + (_DROP_V4.format(removed=removed) if removed else "")
    # SET search_path FROM CURRENT: the table of the schema the function was made in, whatever
    # search path the writer has (an admin may write to mofa_messages schema-qualified).
    return (
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql"
        " SET search_path FROM CURRENT AS $f$"
        f" BEGIN {body} RETURN NULL; END $f$"
    )


def create_v4(conn) -> None:
    """Migration m004 as shipped (m005 replaces what it made): the table, its triggers and its
    contents, in the caller's transaction (the triggers lock `mofa_messages` against writers
    until it commits, so none is missed or doubled)."""
    conn.execute(
        f"""
        CREATE TABLE {TABLE} (
            origin     text COLLATE "C" NOT NULL,
            session_id text COLLATE "C" NOT NULL,
            word       text COLLATE "C" NOT NULL,
            messages   integer NOT NULL
        )
        """
    )
    conn.execute(
        f"COMMENT ON TABLE {TABLE} IS 'in how many messages of each session each word"
        " is (kept by triggers on mofa_messages; mofa.stores.postgres.words)'"
    )
    added = _DISTINCT_V4.format(rows="added", sign=1)
    removed = _DISTINCT_V4.format(rows="removed", sign=-1)
    conn.execute(_function_v4("mofa_words_added", added, None))
    conn.execute(_function_v4("mofa_words_removed", removed, removed))
    conn.execute(_function_v4("mofa_words_changed", f"{added} UNION ALL {removed}", removed))
    conn.execute(
        "CREATE TRIGGER mofa_words_added AFTER INSERT ON mofa_messages"
        " REFERENCING NEW TABLE AS added FOR EACH STATEMENT"
        " EXECUTE FUNCTION mofa_words_added()"
    )
    conn.execute(
        "CREATE TRIGGER mofa_words_removed AFTER DELETE ON mofa_messages"
        " REFERENCING OLD TABLE AS removed FOR EACH STATEMENT"
        " EXECUTE FUNCTION mofa_words_removed()"
    )
    conn.execute(
        "CREATE TRIGGER mofa_words_changed AFTER UPDATE ON mofa_messages"
        " REFERENCING NEW TABLE AS added OLD TABLE AS removed FOR EACH STATEMENT"
        " EXECUTE FUNCTION mofa_words_changed()"
    )
    conn.execute(
        f"INSERT INTO {TABLE} (origin, session_id, word, messages)"
        f" SELECT origin, session_id, word, count(*) FROM ("
        f"{_DISTINCT_V4.format(rows='mofa_messages', sign=1)}) d"
        " GROUP BY origin, session_id, word"
    )
    # Indexes once it is filled (a sorted build, compact): the key, in session order (what
    # the triggers look up: a session's words are neighbours), and in each word the sessions
    # with the most messages holding it first, for best-first search to read in order.
    conn.execute(f"ALTER TABLE {TABLE} ADD PRIMARY KEY (origin, session_id, word)")
    conn.execute(
        f"CREATE INDEX {TABLE}_by_word ON {TABLE} (word, messages DESC, origin, session_id)"
    )
    conn.execute(f"ANALYZE {TABLE}")
