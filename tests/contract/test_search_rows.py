"""The same sessions give the same search rows on every store, snippets and order included:
the files store (with its index and without) and PostgreSQL, compared field by field over the
queries that every word, prefix and phrase of a table of awkward texts makes, and queries with
OR, AND, negations and parentheses."""

from __future__ import annotations

import json
import re

import pytest

from mofa.searching import fold

LONG = " ".join(f"word{n} filler text" for n in range(200)) + " needle at the far end."

TEXTS = [
    "Hello, world! How's it going?",
    "Refund: the order #1234 was charged twice (twice!) - please refund.",
    "needle at the very start, then a great deal of padding " + "pad " * 60,
    LONG,
    "Café crème, naïve résumé; ÉCOLE déjà vu.",
    "日本語のテキスト and 中文 mixed with English words",
    "emoji 🎉 party 🎉 time, tabs\tand\nnew lines\r\nwindows",
    "snake_case and kebab-case and dotted.name and path/to/file.txt",
    "quote \"inside\" and 'single' and `back` ticks",
    "numbers 3.14159 and 1e400 and 0.10000000000000000555 and -42",
    "a lone \ud800 surrogate and a nul \x00 here",
    "snippet marks \x02inside\x03 the text",
    "   leading and trailing spaces   ",
    "UPPER lower MiXeD case Words",
    "straße STRASSE Straße",
    "ﬁne ligature and ½ fraction",
    "repeated needle needle needle needle",
]

STRUCTURED = [
    [{"type": "text", "text": "structured refund request"}, {"type": "image", "url": "x"}],
    {"tool": "lookup", "result": {"status": "shipped", "eta": "tomorrow"}, "n": 3},
    ["list", "of", ["nested", "strings"], 7, None],
]


def sessions() -> dict[str, dict]:
    found = {}
    contents = [*TEXTS, *STRUCTURED]
    for number, content in enumerate(contents):
        messages = [
            {"role": "user", "content": "opening words", "timestamp": "2024-03-01T10:00:00Z"},
            {"role": "assistant", "content": content, "timestamp": "2024-03-01T10:00:01Z"},
        ]
        if number % 3 == 0:
            messages.append(
                {
                    "role": "user",
                    "content": contents[-1 - number],
                    "timestamp": "2024-03-01T10:00:02Z",
                }
            )
        found[f"agent{number % 4}:s{number:02d}"] = {
            "created_at": f"2024-03-{1 + number % 28:02d}T10:00:00Z",
            "metadata": {"agent_id": f"agent{number % 4}"},
            "messages": messages,
        }
    return found


def queries() -> list[str]:
    from mofa.searching import message_text

    words: set[str] = set()
    phrases: set[str] = set()
    for content in [*TEXTS, *STRUCTURED]:
        found = re.findall(r"[^\W_]+", message_text(content))
        words.update(found)
        phrases.update(
            f'"{a} {b}"' for a, b in zip(found, found[1:], strict=False) if len(found) < 40
        )
    prefixes = {fold(word)[:3] + "*" for word in words if len(word) > 3}
    pairs = {f"{a} {b}" for a, b in zip(sorted(words), sorted(words)[7:], strict=False)}
    every = sorted(words | phrases | prefixes | pairs)
    operators = [
        "refund OR shipped",
        "twice -order",
        "twice NOT order",
        "refund AND twice",
        "needle -start OR café -crème",
        "(needle OR refund) -(far OR twice)",
        "words -opening",
        '-"very start" needle*',
        "kebab-case OR straße",
        "opening -(words OR start) OR nested",
        "NOT twice refund*",
        "refund -twice",
    ]
    return every[::3] + ["needle", "café", "STRASSE", "ﬁne", *operators]


def rows(store, query: str, limit: int | None) -> list[dict]:
    """The search's rows, best first, snippets with their marks."""
    from mofa.stores.base import SessionFilter

    return [hit._asdict() for hit in store.search(query, SessionFilter(limit=limit))]


@pytest.fixture
def stores(tmp_path, pg_url):
    from mofa.stores import open_store

    (tmp_path / "plain").mkdir()
    (tmp_path / "indexed").mkdir()
    opened = {
        "files": open_store(root=str(tmp_path / "plain"), indexed=False, warn=lambda t: None),
        "files+index": open_store(
            root=str(tmp_path / "indexed"),
            index_path=str(tmp_path / "index.sqlite3"),
            warn=lambda t: None,
            notice=lambda t: None,
        ),
        "postgresql": open_store(pg_url, warn=lambda t: None, notice=lambda t: None),
    }
    try:
        for session_id, document in sessions().items():
            for store in opened.values():
                store.save(session_id, json.loads(json.dumps(document)))
        yield opened
    finally:
        for store in opened.values():
            store.close()


@pytest.mark.parametrize("limit", [None, 3])
def test_every_store_gives_the_same_search_rows_snippets_included(stores, limit):
    differences = []
    for query in queries():
        answers = {name: rows(store, query, limit) for name, store in stores.items()}
        if not answers["files"] == answers["files+index"] == answers["postgresql"]:
            differences.append((query, answers))
    assert not differences, differences[:3]


def test_the_search_json_rows_are_the_same_on_every_store(stores):
    from tests.helpers import run

    where = {
        "files+index": ["--sessions-dir", stores["files+index"].root],
        "postgresql": ["--store", stores["postgresql"].url],
    }
    for query in ["needle", "refund", "caf*", '"twice please"', "words", "refund OR -x needle"]:
        printed = {
            name: run(*options, "session", "search", "-f", "json", "-n", "5", "--", query)
            for name, options in where.items()
        }
        assert printed["files+index"].exit_code == 0, printed["files+index"].output
        assert printed["files+index"].stdout == printed["postgresql"].stdout
