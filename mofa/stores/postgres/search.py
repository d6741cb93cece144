"""Search in the database, answering exactly what the plain matcher (`mofa.searching`) answers.

Each message row keeps `words`: the words of its text as the plain matcher sees them (runs of
letters and digits, case and accents folded), each between two SEPARATORs. A term of a query
is then one `LIKE` over that column: a word is `%<sep>word<sep>%`, a phrase its words joined by
the separator, a prefix leaves the last word open (`%<sep>deliv%`). That is the matcher's own
rule (all words of a phrase consecutive, a prefix at the start of a word), decided by the
database, so that it can count matching messages, order and limit without Python seeing them.

A pg_trgm GIN index on `words` (migration m003) makes those `LIKE`s fast: the index yields the
rows holding the pattern's trigrams, and the database rechecks the `LIKE` itself on them, so
the index only ever narrows. Without pg_trgm (not installed, or a role that may not create
it) the same `LIKE`s run over every message: slower, the same answer.
"""

from __future__ import annotations

import re

from mofa.searching import _words, fold

# Between words: a control character, which no folded word holds (a folded word may hold a
# space: U+037A folds to one), so a pattern can never match across or inside a word.
SEPARATOR = "\x1f"
INDEX = "mofa_messages_by_words"
EXTENSION = "pg_trgm"
WORDS_BATCH = 5000  # message rows per UPDATE when (re)computing `words`


_ASCII_WORD = re.compile(r"[a-z0-9]+")


def word_text(text: str) -> str:
    """The `words` value of a message whose text is `text` ('' when it has none)."""
    if text.isascii():
        # What the plain matcher finds in ASCII text, five times quicker: its words are the
        # runs of letters and digits, folded to lower case (no accents to remove).
        words = _ASCII_WORD.findall(text.lower())
    else:
        words = [fold(word) for word, _, _ in _words(text)]
    return f"{SEPARATOR}{SEPARATOR.join(words)}{SEPARATOR}" if words else ""


def _escaped(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_pattern(words: list[str], prefix: bool) -> str:
    """The `LIKE` pattern (backslash escapes) of a term: its folded words, consecutive."""
    body = SEPARATOR.join(_escaped(word) for word in words)
    return f"%{SEPARATOR}{body}{'%' if prefix else SEPARATOR + '%'}"


def words_condition(tree) -> tuple[str, list]:
    """SQL over the messages `m` (and its parameters) true for a message matching `tree`
    (mofa.searching.parse_query): each term a `LIKE`, combined as the tree combines them."""
    from mofa.searching import And, Not, Or, Term

    if isinstance(tree, Term):
        return "m.words LIKE %s", [like_pattern(list(tree.words), tree.prefix)]
    if isinstance(tree, Not):
        inner, params = words_condition(tree.operand)
        return f"NOT ({inner})", params
    joiner = " AND " if isinstance(tree, And) else " OR "
    assert isinstance(tree, (And, Or))
    parts, params = [], []
    for operand in tree.operands:
        part, more = words_condition(operand)
        parts.append(part)
        params += more
    return "(" + joiner.join(parts) + ")", params


def trigram_index(conn) -> str | None:
    """The search index's definition when it exists, else None."""
    row = conn.execute(
        "SELECT indexdef FROM pg_indexes WHERE indexname = %s AND schemaname = current_schema()",
        (INDEX,),
    ).fetchone()
    return row[0] if row else None


def create_trigram_index(conn) -> str | None:
    """Create pg_trgm (when missing and allowed) and the GIN index on `words`, in the caller's
    transaction. Returns None when done, else why it could not be (the search stays exact,
    only slower); a failure leaves the transaction usable (a savepoint)."""
    import psycopg

    try:
        with conn.transaction():  # a savepoint: what fails here is undone, nothing else
            schema = _extension_schema(conn)
            if schema is None:
                conn.execute(f"CREATE EXTENSION IF NOT EXISTS {EXTENSION}")
                schema = _extension_schema(conn)
            # The operator class by its schema: the extension may live outside search_path.
            opclass = f'"{schema}".gin_trgm_ops'
            conn.execute(
                f"CREATE INDEX IF NOT EXISTS {INDEX} ON mofa_messages USING gin (words {opclass})"
            )
    except psycopg.Error as error:
        from mofa.stores.postgres.connect import one_line

        return one_line(error)
    return None


def _extension_schema(conn) -> str | None:
    row = conn.execute(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n"
        " ON n.oid = e.extnamespace WHERE e.extname = %s",
        (EXTENSION,),
    ).fetchone()
    return row[0] if row else None


def fill_words(conn, progress=None) -> int:
    """(Re)compute `words` of every message from its `text`, a batch per transaction (a
    savepoint inside the caller's), in primary key order. Returns how many messages it read.

    A row that a writer replaced meanwhile keeps the words its writer gave it: the UPDATE
    applies only where the text is still the one read."""
    total = conn.execute("SELECT count(*) FROM mofa_messages").fetchone()[0]
    done, after = 0, None
    while True:
        with conn.transaction():
            batch = conn.execute(
                "SELECT origin, session_id, position, text FROM mofa_messages"
                + (" WHERE (origin, session_id, position) > (%s, %s, %s)" if after else "")
                + " ORDER BY origin, session_id, position LIMIT %s",
                (*(after or ()), WORDS_BATCH),
            ).fetchall()
            if not batch:
                break
            origins, ids, positions, texts = (list(column) for column in zip(*batch, strict=True))
            conn.execute(
                "UPDATE mofa_messages m SET words = v.words"
                " FROM unnest(%s::text[], %s::text[], %s::integer[], %s::text[], %s::text[])"
                "  AS v(origin, session_id, position, text, words)"
                " WHERE m.origin = v.origin AND m.session_id = v.session_id"
                " AND m.position = v.position AND m.text = v.text AND m.words <> v.words",
                (origins, ids, positions, texts, [word_text(text) for text in texts]),
            )
        done += len(batch)
        after = batch[-1][:3]
        if progress is not None:
            progress(done, total)
    return done


def stale_words(conn, progress=None, limit: int = 1000) -> list[tuple[str, str, int]]:
    """(origin, session_id, position) of the messages whose `words` are not those of their
    text (at most `limit`), reading every message once, in batches."""
    total = conn.execute("SELECT count(*) FROM mofa_messages").fetchone()[0]
    stale: list[tuple[str, str, int]] = []
    done, after = 0, None
    while len(stale) < limit:
        batch = conn.execute(
            "SELECT origin, session_id, position, text, words FROM mofa_messages"
            + (" WHERE (origin, session_id, position) > (%s, %s, %s)" if after else "")
            + " ORDER BY origin, session_id, position LIMIT %s",
            (*(after or ()), WORDS_BATCH),
        ).fetchall()
        if not batch:
            break
        stale += [row[:3] for row in batch if word_text(row[3]) != row[4]]
        done += len(batch)
        after = batch[-1][:3]
        if progress is not None:
            progress(done, total)
    return stale[:limit]
