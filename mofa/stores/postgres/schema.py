"""The database schema as a list of forward migrations, applied in order, never edited once
shipped (add `m002_...` instead).

Table `mofa_schema` holds how many have been applied. Every migration runs in its own
transaction, together with its version bump, under a transaction-level advisory lock: processes
that open a fresh database at once queue on the lock, and each re-reads the version once it
holds it, so a migration is applied exactly once (plain `CREATE ... IF NOT EXISTS` races).

Text columns that are ordered or compared use the "C" collation: byte order of UTF-8 is code
point order, the order Python (and the files store) sorts ids and times in, whatever the
database's default locale.
"""

from __future__ import annotations

from collections.abc import Callable

from mofa.errors import StoreUnavailable

# pg_advisory_xact_lock key: any fixed 64-bit number that other applications are unlikely to use.
MIGRATION_LOCK = 0x6D6F6661_73657373  # "mofasess"


def m001_initial(conn) -> None:
    conn.execute(
        """
        CREATE TABLE mofa_sessions (
            session_id    text COLLATE "C" PRIMARY KEY,
            agent         text COLLATE "C" NOT NULL,
            name          text COLLATE "C" NOT NULL,
            created_at    text COLLATE "C" NOT NULL,
            updated_at    text COLLATE "C",
            message_count integer NOT NULL,
            status        text COLLATE "C" NOT NULL,
            user_id       text COLLATE "C",
            tags          text[] COLLATE "C" NOT NULL DEFAULT '{}',
            layout        text NOT NULL,
            fields        text NOT NULL,
            messages_at   integer,
            metadata      jsonb,
            mtime_ns      bigint NOT NULL,
            content_hash  text NOT NULL
        )
        """
    )
    conn.execute(
        "COMMENT ON COLUMN mofa_sessions.fields IS 'the stored top-level fields but "
        "messages, JSON text exactly as saved (key order, duplicates and number text kept)'"
    )
    conn.execute(
        "COMMENT ON COLUMN mofa_sessions.messages_at IS 'where messages stood among "
        "the fields of a per-agent JSON session (NULL: no messages field)'"
    )
    conn.execute(
        "COMMENT ON COLUMN mofa_sessions.metadata IS 'metadata as jsonb, for queries "
        "only (NULL when jsonb cannot hold it exactly)'"
    )
    conn.execute(
        "COMMENT ON COLUMN mofa_sessions.mtime_ns IS 'when the session was saved: the "
        "created_at of a session that names no time, as a file''s mtime is'"
    )
    conn.execute("CREATE INDEX mofa_sessions_by_created ON mofa_sessions (created_at, session_id)")
    conn.execute(
        "CREATE INDEX mofa_sessions_by_agent ON mofa_sessions (agent, created_at, session_id)"
    )
    conn.execute("CREATE INDEX mofa_sessions_by_name ON mofa_sessions (name)")
    conn.execute("CREATE INDEX mofa_sessions_by_tags ON mofa_sessions USING gin (tags)")
    conn.execute(
        """
        CREATE TABLE mofa_messages (
            session_id text COLLATE "C" NOT NULL
                       REFERENCES mofa_sessions (session_id) ON DELETE CASCADE,
            position   integer NOT NULL,
            role       text,
            timestamp  text,
            text       text NOT NULL,
            folded     text NOT NULL,
            message    text NOT NULL,
            PRIMARY KEY (session_id, position)
        )
        """
    )
    conn.execute(
        "COMMENT ON COLUMN mofa_messages.message IS 'the whole message, JSON text exactly as saved'"
    )
    conn.execute(
        "COMMENT ON COLUMN mofa_messages.text IS 'the text of its content, for search "
        "snippets (mofa.searching.message_text)'"
    )
    conn.execute(
        "COMMENT ON COLUMN mofa_messages.folded IS 'that text case- and accent-folded "
        "(mofa.searching.fold), where a search looks for its words'"
    )
    # The relation users query: the SQLite index's documented columns, so that the README's
    # queries run unchanged on both stores. A database has no files: their columns are NULL.
    conn.execute(
        """
        CREATE VIEW sessions AS
        SELECT session_id, agent, name, created_at, updated_at, message_count, status, user_id,
               NULL::text AS path, layout, NULL::text AS dir, NULL::text AS file,
               NULL::bigint AS size, NULL::bigint AS mtime_ns, NULL::bigint AS inode,
               NULL::bigint AS ctime_ns
        FROM mofa_sessions
        """
    )


def m002_origins(conn) -> None:
    """Sessions mirrored from many hosts (`mofa-indexd --sync-to`): each carries its origin,
    so the same id from two hosts stays two sessions; '' is a session written directly."""
    conn.execute("ALTER TABLE mofa_messages DROP CONSTRAINT mofa_messages_session_id_fkey")
    conn.execute("ALTER TABLE mofa_messages DROP CONSTRAINT mofa_messages_pkey")
    conn.execute("ALTER TABLE mofa_sessions DROP CONSTRAINT mofa_sessions_pkey")
    for table in ("mofa_sessions", "mofa_messages"):
        conn.execute(
            f"ALTER TABLE {table} ADD COLUMN origin text COLLATE \"C\" NOT NULL DEFAULT ''"
        )
    conn.execute("ALTER TABLE mofa_sessions ADD PRIMARY KEY (origin, session_id)")
    conn.execute("ALTER TABLE mofa_messages ADD PRIMARY KEY (origin, session_id, position)")
    conn.execute(
        "ALTER TABLE mofa_messages ADD FOREIGN KEY (origin, session_id)"
        " REFERENCES mofa_sessions (origin, session_id) ON DELETE CASCADE"
    )
    conn.execute("CREATE INDEX mofa_sessions_by_id ON mofa_sessions (session_id)")
    conn.execute(
        "COMMENT ON COLUMN mofa_sessions.origin IS 'the host (mofa-indexd --origin) "
        "this session is mirrored from; empty for a session written directly'"
    )
    # One row per mirroring host: when it last brought the database up to date with its root.
    conn.execute(
        """
        CREATE TABLE mofa_origins (
            origin       text COLLATE "C" PRIMARY KEY,
            last_sync    timestamptz NOT NULL,
            last_change  timestamptz,
            sessions     integer NOT NULL DEFAULT 0
        )
        """
    )
    conn.execute(
        """
        CREATE OR REPLACE VIEW sessions AS
        SELECT session_id, agent, name, created_at, updated_at, message_count, status, user_id,
               NULL::text AS path, layout, NULL::text AS dir, NULL::text AS file,
               NULL::bigint AS size, NULL::bigint AS mtime_ns, NULL::bigint AS inode,
               NULL::bigint AS ctime_ns, origin
        FROM mofa_sessions
        """
    )


def m003_search(conn) -> None:
    """Indexed search: `words` (a message's folded words between separators, what a search's
    `LIKE`s read; mofa.stores.postgres.search) replaces `folded`, computed for the messages
    already held, with a pg_trgm GIN index over it when pg_trgm can be had. Without it (not
    installed, or the role may not create it) the schema is complete all the same: searches
    stay exact, only slower, `index status` says why, and `index rebuild` tries again."""
    from mofa.stores.postgres import search

    conn.execute(
        "ALTER TABLE mofa_messages ADD COLUMN words text COLLATE \"C\" NOT NULL DEFAULT ''"
    )
    conn.execute(
        "COMMENT ON COLUMN mofa_messages.words IS 'the words of text, case- and "
        "accent-folded, each between two U+001F (mofa.stores.postgres.search)'"
    )
    search.fill_words(conn)
    conn.execute("ALTER TABLE mofa_messages DROP COLUMN folded")
    search.create_trigram_index(conn)
    conn.execute("ANALYZE mofa_messages")


def m004_session_words(conn) -> None:
    """Per-session word counts, kept by triggers on the messages (mofa.stores.postgres.words),
    counted for the messages already held: what bounds a best-first search with a limit
    (mofa.stores.postgres.ranking) so that a common word is not counted in every message."""
    from mofa.stores.postgres import words_v4

    words_v4.create_v4(conn)


def m005_word_positions(conn) -> None:
    """Per-session words with the positions of the messages holding them, not counts alone
    (mofa.stores.postgres.words): a search for several words ranks sessions by the messages
    their words share, exactly, without reading messages (two common words: 1.3 s of counting
    candidates' messages before). Made afresh from the messages, in place of m004's table."""
    from mofa.stores.postgres import words

    words.drop_v4(conn)
    words.create(conn)


def m006_origin_roots(conn) -> None:
    """Which root each mirroring origin belongs to (its host and the root's path): a second
    root under the same origin is refused, so that one root never deletes another's sessions.
    Origins mirrored before are claimed by the first root that syncs under them again."""
    conn.execute("ALTER TABLE mofa_origins ADD COLUMN host text, ADD COLUMN root text")
    conn.execute(
        "COMMENT ON COLUMN mofa_origins.root IS 'the root (real path on host) this origin"
        " mirrors: mofa-indexd refuses another root under the same origin'"
    )


def m007_titles(conn) -> None:
    """`title` (`mofa.session.title_of`), for `list --wide`, derived for the sessions already
    held from their fields and first user message; the `sessions` view shows it as the index
    does. And an index in the order of `list --sort updated` (last activity, then id): its
    `--limit 10` over 100,000 sessions reads 10 entries instead of sorting them all (72 ->
    0.2 ms)."""
    import json

    from mofa.numbers import exact_float
    from mofa.session import title_of
    from mofa.stores.postgres.records import cleaned

    conn.execute('ALTER TABLE mofa_sessions ADD COLUMN title text COLLATE "C"')
    conn.execute(
        "CREATE INDEX mofa_sessions_by_activity"
        " ON mofa_sessions ((coalesce(updated_at, created_at)), session_id)"
    )
    rows = conn.execute(
        "SELECT origin, session_id, fields, (SELECT m.message FROM mofa_messages m"
        "  WHERE m.origin = s.origin AND m.session_id = s.session_id AND m.role = 'user'"
        "  ORDER BY m.position LIMIT 1) FROM mofa_sessions s"
    ).fetchall()
    titles = []
    for origin, session_id, fields_text, first_user in rows:
        fields = json.loads(fields_text, parse_float=exact_float)
        metadata = fields.get("metadata") if isinstance(fields, dict) else None
        messages = [] if first_user is None else [json.loads(first_user, parse_float=exact_float)]
        title = title_of(metadata if isinstance(metadata, dict) else {}, messages)
        if title is not None:
            titles.append((cleaned(title), origin, session_id))
    if titles:
        with conn.cursor() as cursor:
            cursor.executemany(
                "UPDATE mofa_sessions SET title = %s WHERE origin = %s AND session_id = %s",
                titles,
            )
    conn.execute(
        """
        CREATE OR REPLACE VIEW sessions AS
        SELECT session_id, agent, name, created_at, updated_at, message_count, status, user_id,
               NULL::text AS path, layout, NULL::text AS dir, NULL::text AS file,
               NULL::bigint AS size, NULL::bigint AS mtime_ns, NULL::bigint AS inode,
               NULL::bigint AS ctime_ns, origin, title
        FROM mofa_sessions
        """
    )


MIGRATIONS: list[Callable] = [
    m001_initial,
    m002_origins,
    m003_search,
    m004_session_words,
    m005_word_positions,
    m006_origin_roots,
    m007_titles,
]
LATEST_VERSION = len(MIGRATIONS)


def schema_version(conn) -> int:
    """How many migrations the database has; 0 for a database mofa never used."""
    row = conn.execute("SELECT to_regclass('mofa_schema') IS NOT NULL").fetchone()
    if not row[0]:
        return 0
    row = conn.execute("SELECT version FROM mofa_schema").fetchone()
    return 0 if row is None else row[0]


def _refuse_newer(version: int, where: str) -> None:
    if version > LATEST_VERSION:
        raise StoreUnavailable(
            f"the database at {where} has mofa schema version {version}, newer than this mofa "
            f"knows ({LATEST_VERSION}): upgrade mofa-session"
        )


def migrate(conn, where: str, notice=None) -> int:
    """Bring the schema up to date; returns its version. `where` is the masked URL for messages.

    Reading the version takes no lock, so commands on an up-to-date database never wait.
    """
    version = schema_version(conn)
    _refuse_newer(version, where)
    while version < LATEST_VERSION:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            # IF NOT EXISTS, not a look-up first: a process that looked the table up before
            # the lock keeps a cached "no such table" until a DDL statement makes it catch up
            # with what the lock holder committed. Its notice ("already exists") is not news.
            conn.execute("SET LOCAL client_min_messages = warning")
            conn.execute("CREATE TABLE IF NOT EXISTS mofa_schema (version integer NOT NULL)")
            version = schema_version(conn)
            _refuse_newer(version, where)
            if version < LATEST_VERSION:
                MIGRATIONS[version](conn)
                version += 1
                if conn.execute("UPDATE mofa_schema SET version = %s", (version,)).rowcount == 0:
                    conn.execute("INSERT INTO mofa_schema (version) VALUES (%s)", (version,))
                if notice is not None:
                    notice(f"migrated the mofa schema of {where} to version {version}")
    return version
