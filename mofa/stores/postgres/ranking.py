"""Best-first search with a limit, without counting every matching message: rankings read
from the per-session words (mofa.stores.postgres.words: per session and word, how many of its
messages hold it and which).

Words only, no --role (`search refund invoice`): a session's number of matching messages is
the number of bits its words' position strings share, exact, and its first matching message
their first shared bit: the database ranks the sessions and no message is read but the hits'
first matching ones (for their snippets).

A phrase, a prefix or --role: that number is only bounded, by the bits the words share (for
a prefix, the sum of the counts of the words that start so). Candidates come in best-first
order of their bound (bound, then newest, then id), and their exact counts (the `LIKE`s of
search.py over their own messages only) are taken a batch at a time, until the k-th best
exact answer is at least as good as the next candidate's bound: no session not yet counted
can beat it (Fagin's threshold algorithm).

Either way, only sessions whose every word is in at least T of their messages are joined (T
the fewest messages the k-th best could match, read from the index for each word, lowered
round by round until k are found): two common words join a few thousand sessions, not the
hundred thousand that hold both. A session left out matches fewer than T messages, fewer than
each of the k found. Filters on sessions (agent, origin, created_at) narrow the candidates;
--role narrows only the exact count, which the bound still bounds.
"""

from __future__ import annotations

from typing import NamedTuple

from mofa.stores.postgres.search import _escaped, like_pattern

# Candidates counted at most before giving up on the bounds (about a second of counting on a
# 2M-message database): beyond it, counting every match through the trigram index is quicker.
# A tenth of it when the bounds are known to be loose: a phrase (bounded by its words one by
# one) or --role (bounded by messages of every role).
BUDGET = 5000


class Ranked(NamedTuple):
    """A hit, before its snippet: its first matching message's text comes with it."""

    session_id: str
    agent: str
    created_at: str
    matches: int
    text: str
    origin: str
    first: int  # the first matching message's position, from 0


def _atoms(terms: list[tuple[list[str], bool]]) -> list[tuple[str, bool]]:
    """(word, is_prefix) of every word of every term, once each: what the bound reads."""
    atoms = []
    for words, prefix in terms:
        for index, word in enumerate(words):
            atom = (word, prefix and index == len(words) - 1)
            if atom not in atoms:
                atoms.append(atom)
    return atoms


def _better(a: tuple, b: tuple) -> bool:
    """Whether key `a` (count, created_at, session_id, origin) comes before `b` best first."""
    if a[0] != b[0]:
        return a[0] > b[0]
    if a[1] != b[1]:
        return a[1] > b[1]
    return (a[2], a[3]) < (b[2], b[3])


def candidates(
    atoms: list[tuple[str, bool]],
    session_conditions: list[str],
    session_params: list,
    threshold: int,
    exact: bool,
) -> tuple[str, list]:
    """SQL and parameters of the sessions holding every atom in at least `threshold` messages,
    with their bound (exact when `exact`, and then their first matching position too), best
    first: (origin, session_id, agent, created_at, bound[, first])."""
    parts, params = [], []
    for index, (word, prefix) in enumerate(atoms):
        if prefix:
            parts.append(
                f"a{index} AS (SELECT origin, session_id, sum(messages) AS n"
                " FROM mofa_session_words WHERE word LIKE %s GROUP BY origin, session_id"
                " HAVING sum(messages) >= %s)"
            )
            params += [_escaped(word) + "%", threshold]
        else:
            parts.append(
                f"a{index} AS (SELECT origin, session_id, messages AS n, positions AS p"
                " FROM mofa_session_words WHERE word = %s AND messages >= %s)"
            )
            params += [word, threshold]
    plain = [index for index, (_, prefix) in enumerate(atoms) if not prefix]
    bits = f"a{plain[0]}.p" if plain else None
    for index in plain[1:]:
        bits = f"mofa_bits_and({bits}, a{index}.p)"
    counts = [f"a{index}.n" for index, (_, prefix) in enumerate(atoms) if prefix]
    if len(plain) == 1:
        counts.append(f"a{plain[0]}.n")
    elif plain:
        counts.append(f"mofa_bit_count({bits})")
    # One atom's bound is its count as it stands (`least(a0.n)` would hide from the planner
    # that the index on (word, messages DESC) yields it in order: it sorted every session of a
    # common word, 40-75 ms, instead of reading the first few).
    bound = counts[0] if len(atoms) == 1 else f"least({', '.join(counts)})::integer"
    first = f", position(B'1' IN {bits}) - 1 AS first" if exact else ""
    joins = "".join(
        f" JOIN a{index} ON a{index}.origin = a0.origin AND a{index}.session_id = a0.session_id"
        for index in range(1, len(atoms))
    )
    where = "".join(f" AND {condition}" for condition in session_conditions)
    sql = (
        f"WITH {', '.join(parts)} SELECT * FROM ("
        f" SELECT s.origin, s.session_id, s.agent, s.created_at, {bound} AS bound{first}"
        f" FROM a0{joins}"
        " JOIN mofa_sessions s ON s.origin = a0.origin AND s.session_id = a0.session_id"
        f" WHERE true{where}) c"
    )
    params += session_params
    if len(atoms) > 1:
        sql += " WHERE c.bound >= %s"
        params.append(threshold)
    return sql + " ORDER BY c.bound DESC, c.created_at DESC, c.session_id, c.origin", params


def first_threshold(conn, atoms: list[tuple[str, bool]], limit: int) -> int:
    """The fewest messages the `limit`-th best session could match, as far as the index tells
    at a glance: the `limit`-th largest count of the least common word (1 when a word is in
    fewer sessions than that, or the query has none but prefixes)."""
    plain = [word for word, prefix in atoms if not prefix]
    if not plain:
        return 1
    counts = conn.execute(
        "SELECT (SELECT messages FROM mofa_session_words WHERE word = w.word"
        "        ORDER BY messages DESC OFFSET %s LIMIT 1) FROM unnest(%s::text[]) AS w(word)",
        (limit - 1, plain),
    ).fetchall()
    if any(count is None for (count,) in counts):
        return 1
    return min(count for (count,) in counts)


def lower(threshold: int) -> int:
    """The next round's threshold: two thirds, and at least one less."""
    return max(1, min(threshold - 1, threshold * 2 // 3))


def ranked(
    conn,
    terms: list[tuple[list[str], bool]],
    session_conditions: list[str],
    session_params: list,
    role: str | None,
    limit: int,
) -> list[Ranked] | None:
    """The `limit` best sessions for `terms` (each its folded words and whether the last is a
    prefix), among those `session_conditions` (SQL over `s`, the sessions table) allow, with
    their exact numbers of matching messages (of `role` when given), best first. None when
    more than BUDGET candidates would have to be counted (bounds far above the counts, as a
    phrase of two common words has): the caller counts every match instead."""
    atoms = _atoms(terms)
    exact = role is None and all(len(words) == 1 and not prefix for words, prefix in terms)
    threshold = first_threshold(conn, atoms, limit)
    if exact:
        while True:
            sql, params = candidates(atoms, session_conditions, session_params, threshold, True)
            rows = conn.execute(f"{sql} LIMIT %s", [*params, limit]).fetchall()
            if len(rows) == limit or threshold <= 1:
                break
            threshold = lower(threshold)
        found = [
            (bound, created_at, session_id, origin, agent, first)
            for origin, session_id, agent, created_at, bound, first in rows
        ]
    else:
        counter = _Counter(conn, terms, role, limit)
        while True:
            sql, params = candidates(atoms, session_conditions, session_params, threshold, False)
            if not counter.rank(sql, params):
                return None  # the bounds are too loose here: counting everything is quicker
            found = counter.found
            if threshold <= 1 or (len(found) == limit and found[-1][0] >= threshold):
                break
            threshold = lower(threshold)
    if not found:
        return []
    texts = dict(
        ((origin, session_id), text)
        for origin, session_id, text in conn.execute(
            "SELECT m.origin, m.session_id, m.text"
            " FROM unnest(%s::text[], %s::text[], %s::integer[]) AS c(origin, session_id, position)"
            " JOIN mofa_messages m ON m.origin = c.origin AND m.session_id = c.session_id"
            " AND m.position = c.position",
            ([key[3] for key in found], [key[2] for key in found], [key[5] for key in found]),
        ).fetchall()
    )
    return [
        Ranked(session_id, agent, created_at, matches, texts[(origin, session_id)], origin, first)
        for matches, created_at, session_id, origin, agent, first in found
    ]


class _Counter:
    """The threshold algorithm over candidates whose bounds are not their counts: exact counts
    over each candidate's own messages, kept across rounds (a candidate is counted once)."""

    def __init__(self, conn, terms, role: str | None, limit: int):
        self.conn, self.limit = conn, limit
        matching = " AND ".join(
            ["m.words LIKE %s"] * len(terms) + (["m.role = %s"] if role is not None else [])
        )
        self.matching_params = [like_pattern(words, prefix) for words, prefix in terms]
        if role is not None:
            self.matching_params.append(role)
        # Counted over each candidate's own messages (its primary key range), never through
        # the trigram index: the LIKEs are in FILTERs, where no index applies.
        self.exact_sql = (
            f"SELECT c.i, count(*) FILTER (WHERE {matching})::integer,"
            f" min(m.position) FILTER (WHERE {matching})"
            " FROM unnest(%s::text[], %s::text[], %s::integer[]) AS c(origin, session_id, i)"
            " JOIN mofa_messages m ON m.origin = c.origin AND m.session_id = c.session_id"
            " GROUP BY c.i"
        )
        loose = role is not None or any(len(words) > 1 for words, _ in terms)
        self.budget = BUDGET // 10 if loose else BUDGET
        self.counted: set[tuple[str, str]] = set()
        # (matches, created_at, session_id, origin, agent, first position), the best `limit`.
        self.found: list[tuple] = []

    def _count(self, batch: list[tuple]) -> None:
        batch = [row for row in batch if (row[0], row[1]) not in self.counted]
        if not batch:
            return
        self.counted.update((row[0], row[1]) for row in batch)
        counted = self.conn.execute(
            self.exact_sql,
            [
                *self.matching_params,
                *self.matching_params,
                [row[0] for row in batch],
                [row[1] for row in batch],
                list(range(len(batch))),
            ],
        ).fetchall()
        found = self.found
        for index, matches, first in counted:
            if matches:
                origin, session_id, agent, created_at, _ = batch[index]
                found.append((matches, created_at, session_id, origin, agent, first))
        found.sort(key=lambda key: (key[2], key[3]))
        found.sort(key=lambda key: (key[0], key[1]), reverse=True)
        del found[self.limit :]

    def rank(self, sql: str, params: list) -> bool:
        """Count the candidates of `sql` best bound first until none left can beat the k-th
        best; False once more than the budget was counted."""
        limit = self.limit
        # A server-side cursor: the candidates are joined and sorted once, read as needed.
        with self.conn.cursor(name="mofa_candidates") as cursor:
            cursor.execute(sql, params)
            size = min(max(4 * limit, 100), self.budget)
            rows = cursor.fetchmany(size + 1)
            while rows:
                batch, rest = rows[:size], rows[size:]
                self._count(batch)
                if not rest:
                    return True  # every candidate is counted
                origin, session_id, _, created_at, bound_value = rest[0]
                if len(self.found) == limit and not _better(
                    (bound_value, created_at, session_id, origin), self.found[-1][:4]
                ):
                    return True  # no candidate left can beat the k-th best
                if len(self.counted) >= self.budget:
                    return False
                size *= 2
                rows = rest + cursor.fetchmany(size)
        return True
