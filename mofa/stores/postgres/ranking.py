"""Best-first search with a limit, without counting every matching message: a threshold
algorithm (Fagin's TA) over upper bounds read from the per-session word counts
(mofa.stores.postgres.words).

A session's number of messages that match a query is at most, for each word of each term, the
number of its messages holding that word (for a prefix, the sum over the words that start
so). The smallest of those is its bound. Candidates come in best-first order of their bound
(bound, then newest, then id), and their exact counts (the `LIKE`s of search.py over their
own messages only) are taken a batch at a time, until the k-th best exact answer is at least
as good as the next candidate's bound: no session not yet counted can beat it. For a single
word (no --role) the bound is the count itself, and the first k candidates are the answer.
Filters on sessions (agent, origin, created_at) narrow the candidates; --role narrows only the
exact count, which the bound still bounds.
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


def ranked(conn, terms: list[tuple[list[str], bool]], session_conditions: list[str],
           session_params: list, role: str | None, limit: int) -> list[Ranked] | None:
    """The `limit` best sessions for `terms` (each its folded words and whether the last is a
    prefix), among those `session_conditions` (SQL over `s`, the sessions table) allow, with
    their exact numbers of matching messages (of `role` when given), best first. None when
    more than BUDGET candidates would have to be counted (bounds far above the counts, as a
    phrase of two common words has): the caller counts every match instead."""
    atoms = _atoms(terms)
    parts, params = [], []
    for index, (word, prefix) in enumerate(atoms):
        if prefix:
            parts.append(f"a{index} AS (SELECT origin, session_id, sum(messages) AS n"
                         " FROM mofa_session_words WHERE word LIKE %s GROUP BY origin, session_id)")
            params.append(_escaped(word) + "%")
        else:
            parts.append(f"a{index} AS (SELECT origin, session_id, messages AS n"
                         " FROM mofa_session_words WHERE word = %s)")
            params.append(word)
    joins = "".join(f" JOIN a{index} ON a{index}.origin = a0.origin"
                    f" AND a{index}.session_id = a0.session_id" for index in range(1, len(atoms)))
    bound = f"least({', '.join(f'a{index}.n' for index in range(len(atoms)))})::integer"
    where = "".join(f" AND {condition}" for condition in session_conditions)
    candidates_sql = (
        f"WITH {', '.join(parts)}"
        f" SELECT s.origin, s.session_id, s.agent, s.created_at, {bound} AS bound FROM a0{joins}"
        " JOIN mofa_sessions s ON s.origin = a0.origin AND s.session_id = a0.session_id"
        f" WHERE true{where}"
        " ORDER BY bound DESC, s.created_at DESC, s.session_id, s.origin")
    matching = " AND ".join(["m.words LIKE %s"] * len(terms) + (["m.role = %s"] if role is not None else []))
    matching_params = [like_pattern(words, prefix) for words, prefix in terms]
    if role is not None:
        matching_params.append(role)
    # Counted over each candidate's own messages (its primary key range), never through the
    # trigram index: the LIKEs are in FILTERs, where no index applies.
    exact_sql = (
        f"SELECT c.i, count(*) FILTER (WHERE {matching})::integer,"
        f" min(m.position) FILTER (WHERE {matching})"
        " FROM unnest(%s::text[], %s::text[], %s::integer[]) AS c(origin, session_id, i)"
        " JOIN mofa_messages m ON m.origin = c.origin AND m.session_id = c.session_id"
        " GROUP BY c.i")
    found: list[tuple] = []  # (matches, created_at, session_id, origin, agent, first position)

    def count(batch: list[tuple]) -> None:
        counted = conn.execute(exact_sql, [*matching_params, *matching_params,
                                           [row[0] for row in batch], [row[1] for row in batch],
                                           list(range(len(batch)))]).fetchall()
        for index, matches, first in counted:
            if matches:
                origin, session_id, agent, created_at, _ = batch[index]
                found.append((matches, created_at, session_id, origin, agent, first))
        found.sort(key=lambda key: (key[2], key[3]))
        found.sort(key=lambda key: (key[0], key[1]), reverse=True)
        del found[limit:]

    if len(terms) == 1 and len(terms[0][0]) == 1 and not terms[0][1] and role is None:
        # One word: its bound is its count, the first `limit` candidates are the answer
        # (read in order from the index on (word, messages DESC), no sort of all its sessions).
        count(conn.execute(f"{candidates_sql} LIMIT %s", [*params, *session_params, limit]).fetchall())
    else:
        # A server-side cursor: the candidates are joined and sorted once, read as needed.
        with conn.cursor(name="mofa_candidates") as cursor:
            cursor.execute(candidates_sql, [*params, *session_params])
            loose = role is not None or any(len(words) > 1 for words, _ in terms)
            budget = BUDGET // 10 if loose else BUDGET
            size, done = min(max(4 * limit, 100), budget), 0
            rows = cursor.fetchmany(size + 1)
            while rows:
                batch, rest = rows[:size], rows[size:]
                count(batch)
                done += len(batch)
                if not rest:
                    break  # every candidate is counted
                origin, session_id, _, created_at, bound_value = rest[0]
                if len(found) == limit and not _better((bound_value, created_at, session_id, origin),
                                                       found[-1][:4]):
                    break  # no candidate left can beat the k-th best
                if done >= budget:
                    return None  # the bounds are too loose here: counting everything is quicker
                size *= 2
                rows = rest + cursor.fetchmany(size)
    if not found:
        return []
    texts = dict(((origin, session_id), text) for origin, session_id, text in conn.execute(
        "SELECT m.origin, m.session_id, m.text"
        " FROM unnest(%s::text[], %s::text[], %s::integer[]) AS c(origin, session_id, position)"
        " JOIN mofa_messages m ON m.origin = c.origin AND m.session_id = c.session_id"
        " AND m.position = c.position",
        ([key[3] for key in found], [key[2] for key in found], [key[5] for key in found])).fetchall())
    return [Ranked(session_id, agent, created_at, matches, texts[(origin, session_id)], origin)
            for matches, created_at, session_id, origin, agent, _ in found]
