"""Per-session words (migration m005): for each session and each word of its messages, in how
many of its messages the word is, and which ones (a bit string, bit i for the message at
position i). Search ranks with them (mofa.stores.postgres.ranking) instead of counting a common
word's million messages: for words, a session's number of messages holding all of them is the
number of bits its words' strings share, exact, with no message read; for a phrase or a
prefix, an upper bound.

The database keeps the table right itself: statement-level triggers on `mofa_messages` (with
transition tables, one upsert per statement however many rows it wrote) add the distinct words
of each inserted message, take away those of each deleted one, and both for an update of
`words` (`index rebuild`). So every write path (save, replace, append, delete and its cascade,
the mirror, COPY) keeps it exact with no code of its own.

The bit strings of one session's words may differ in length (an append lengthens only those
of the new message's words): the functions below pad or cut, a missing bit is a zero.
"""

from __future__ import annotations

TABLE = "mofa_session_words"

# Helpers, in the store's schema. Those a search calls are SQL and not STRICT, so that the
# planner inlines them (a body that is not provably strict, `least`, blocks it otherwise: a
# function call per session joined, several times slower).
# `mofa_bit_count` is the builtin `bit_count` from PostgreSQL 14 on, counted in text before.
_HELPERS = [
    """
    CREATE OR REPLACE FUNCTION mofa_bits(positions integer[]) RETURNS bit varying
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $f$
    DECLARE
        bits bit varying;
        p integer;
    BEGIN
        SELECT repeat('0', max(x) + 1)::bit varying INTO bits FROM unnest(positions) AS u(x);
        FOREACH p IN ARRAY positions LOOP
            bits := set_bit(bits, p, 1);
        END LOOP;
        RETURN bits;
    END $f$
    """,
    """
    CREATE OR REPLACE FUNCTION mofa_bits_or(a bit varying, b bit varying) RETURNS bit varying
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $f$
    SELECT CASE WHEN length(a) >= length(b)
                THEN a | (b || repeat('0', length(a) - length(b))::bit varying)
                ELSE (a || repeat('0', length(b) - length(a))::bit varying) | b END
    $f$
    """,
    """
    CREATE OR REPLACE FUNCTION mofa_bits_clear(a bit varying, b bit varying) RETURNS bit varying
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $f$
    SELECT a & ~substring(b || repeat('0', greatest(length(a) - length(b), 0))::bit varying
                          FROM 1 FOR length(a))
    $f$
    """,
    """
    CREATE OR REPLACE FUNCTION mofa_bits_and(a bit varying, b bit varying) RETURNS bit varying
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $f$
    SELECT substring(a FROM 1 FOR least(length(a), length(b)))
           & substring(b FROM 1 FOR least(length(a), length(b)))
    $f$
    """,
]
_BIT_COUNT = """
    CREATE OR REPLACE FUNCTION mofa_bit_count(a bit varying) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $f$ SELECT {body} $f$
"""

# The distinct words of each message of a transition table `{rows}`, with its position:
# `words` is its words each between two U+001F, so splitting yields '' at the ends.
_DISTINCT = (
    "SELECT r.origin, r.session_id, r.position, w.word FROM {rows} r,"
    " LATERAL (SELECT DISTINCT word FROM unnest(string_to_array(r.words, chr(31))) AS u(word)"
    "          WHERE word <> '') w WHERE r.words <> ''"
)

# Per (origin, session_id, word) of those: how many messages, and which.
_GROUPED = (
    "SELECT origin, session_id, word, count(*)::integer AS messages,"
    " mofa_bits(array_agg(position)) AS positions FROM ({distinct}) d"
    " GROUP BY origin, session_id, word"
)

# Add them to the table (new rows for new words). Sorted, so that two writers lock rows in
# one order.
_ADD = """
    INSERT INTO mofa_session_words AS t (origin, session_id, word, messages, positions)
    SELECT * FROM ({grouped}) g ORDER BY origin, session_id, word
    ON CONFLICT (origin, session_id, word) DO UPDATE
    SET messages = t.messages + EXCLUDED.messages,
        positions = mofa_bits_or(t.positions, EXCLUDED.positions);
"""
# Take them away, then drop the rows that fell to zero.
_TAKE = """
    UPDATE mofa_session_words t SET messages = t.messages - g.messages,
        positions = mofa_bits_clear(t.positions, g.positions)
    FROM (SELECT * FROM ({grouped}) g ORDER BY origin, session_id, word) g
    WHERE t.origin = g.origin AND t.session_id = g.session_id AND t.word = g.word;
    DELETE FROM mofa_session_words t USING (SELECT DISTINCT origin, session_id FROM {rows}) c
    WHERE t.origin = c.origin AND t.session_id = c.session_id AND t.messages <= 0;
"""


def _grouped(rows: str) -> str:
    return _GROUPED.format(distinct=_DISTINCT.format(rows=rows))


def _function(name: str, body: str) -> str:
    # SET search_path FROM CURRENT: the table of the schema the function was made in, whatever
    # search path the writer has (an admin may write to mofa_messages schema-qualified).
    return (
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql"
        " SET search_path FROM CURRENT AS $f$"
        f" BEGIN {body} RETURN NULL; END $f$"
    )


def drop_v4(conn) -> None:
    """Take away what m004 made (mofa.stores.postgres.words_v4): its table and triggers."""
    for operation in ("added", "removed", "changed"):
        conn.execute(f"DROP TRIGGER IF EXISTS mofa_words_{operation} ON mofa_messages")
        conn.execute(f"DROP FUNCTION IF EXISTS mofa_words_{operation}()")
    conn.execute(f"DROP TABLE IF EXISTS {TABLE}")


def create(conn) -> None:
    """The table, its helpers, its triggers and its contents, in the caller's transaction (the
    triggers lock `mofa_messages` against writers until it commits, so none is missed or
    doubled)."""
    for helper in _HELPERS:
        conn.execute(helper)
    version = conn.execute("SELECT current_setting('server_version_num')::integer").fetchone()[0]
    conn.execute(
        _BIT_COUNT.format(
            body="bit_count(a)" if version >= 140000 else "length(replace(a::text, '0', ''))"
        )
    )
    conn.execute(
        f"""
        CREATE TABLE {TABLE} (
            origin     text COLLATE "C" NOT NULL,
            session_id text COLLATE "C" NOT NULL,
            word       text COLLATE "C" NOT NULL,
            messages   integer NOT NULL,
            positions  bit varying NOT NULL
        )
        """
    )
    conn.execute(
        f"COMMENT ON TABLE {TABLE} IS 'in how many messages of each session each word"
        " is, and which (kept by triggers on mofa_messages; mofa.stores.postgres.words)'"
    )
    conn.execute(
        f"COMMENT ON COLUMN {TABLE}.positions IS 'bit i set: the message at position i"
        " holds the word (missing bits are zeros)'"
    )
    conn.execute(_function("mofa_words_added", _ADD.format(grouped=_grouped("added"))))
    conn.execute(
        _function("mofa_words_removed", _TAKE.format(grouped=_grouped("removed"), rows="removed"))
    )
    # Taken away first, then added: a message whose words did not change comes back as it was.
    conn.execute(
        _function(
            "mofa_words_changed",
            _TAKE.format(grouped=_grouped("removed"), rows="removed")
            + _ADD.format(grouped=_grouped("added")),
        )
    )
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
        f"INSERT INTO {TABLE} (origin, session_id, word, messages, positions)"
        f" {_grouped('mofa_messages')}"
    )
    # Indexes once it is filled (a sorted build, compact): the key, in session order (what
    # the triggers look up: a session's words are neighbours), and in each word the sessions
    # with the most messages holding it first, their positions with them, for best-first
    # search to read in order from the index alone.
    conn.execute(f"ALTER TABLE {TABLE} ADD PRIMARY KEY (origin, session_id, word)")
    conn.execute(
        f"CREATE INDEX {TABLE}_by_word ON {TABLE} (word, messages DESC, origin, session_id)"
        " INCLUDE (positions)"
    )
    conn.execute(f"ANALYZE {TABLE}")


# A session's words counted afresh from its messages, positions compared without trailing
# zeros (a bit string keeps its length when its last bits are cleared).
_COUNTED = _grouped("mofa_messages")


def stale(conn, limit: int = 1000) -> list[tuple[str, str, str]]:
    """(origin, session_id, word) where the table disagrees with the messages (at most
    `limit`): what `index verify` reports and `index rebuild` recounts."""
    return conn.execute(
        f"SELECT coalesce(c.origin, t.origin), coalesce(c.session_id, t.session_id),"
        f" coalesce(c.word, t.word) FROM ({_COUNTED}) c FULL JOIN {TABLE} t"
        " ON t.origin = c.origin AND t.session_id = c.session_id AND t.word = c.word"
        " WHERE c.messages IS DISTINCT FROM t.messages"
        " OR rtrim(c.positions::text, '0') IS DISTINCT FROM rtrim(t.positions::text, '0')"
        " ORDER BY 2, 1, 3 LIMIT %s",
        (limit,),
    ).fetchall()


def recount(conn, sessions: list[tuple[str, str]]) -> None:
    """Count the words of these (origin, session_id) afresh, in one transaction that locks
    their session rows (a save or an append of them waits, none is lost)."""
    if not sessions:
        return
    origins, ids = [origin for origin, _ in sessions], [session_id for _, session_id in sessions]
    given = "unnest(%s::text[], %s::text[]) AS g(origin, session_id)"
    with conn.transaction():
        conn.execute(
            f"SELECT 1 FROM mofa_sessions s JOIN {given} USING (origin, session_id)"
            " ORDER BY s.origin, s.session_id FOR UPDATE OF s",
            (origins, ids),
        )
        conn.execute(
            f"DELETE FROM {TABLE} t USING {given}"
            " WHERE t.origin = g.origin AND t.session_id = g.session_id",
            (origins, ids),
        )
        mine = f"(SELECT m.* FROM mofa_messages m JOIN {given} USING (origin, session_id))"
        conn.execute(
            f"INSERT INTO {TABLE} (origin, session_id, word, messages, positions) {_grouped(mine)}",
            (origins, ids),
        )
