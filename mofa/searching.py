"""Searching message text, the part every store shares: the query language (words that all
must match, `"a phrase"`, `prefix*`), the text of a message, snippets with marked matches, and
a plain search over sessions for a store without a search index of its own.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from mofa.errors import InvalidSearchQuery
from mofa.session import Session

MARK_START, MARK_END = "\x02", "\x03"  # around each match in a snippet; never in stored text
SNIPPET_TOKENS = 16
# The largest query taken: each term costs a pass over the candidates' text, and a query of
# thousands of them would run for minutes on any store.
MAX_QUERY_TERMS = 64
MAX_QUERY_CHARS = 1_000


class Term(NamedTuple):
    text: str
    prefix: bool


def parse_query(text: str) -> list[Term]:
    """Words (all must match), `"a phrase"`, `prefix*`; raises InvalidSearchQuery.

    A word or phrase with no letter or digit cannot match anything and is left out. A query
    longer than MAX_QUERY_CHARS or of more than MAX_QUERY_TERMS words and phrases is refused.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidSearchQuery("empty search query: give words to search for")
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidSearchQuery(
            f"search query too long ({len(text):,} characters): at most {MAX_QUERY_CHARS:,}"
        )
    terms = []
    written = 0
    position, end = 0, len(text)
    while position < end:
        char = text[position]
        if char.isspace():
            position += 1
            continue
        written += 1
        if written > MAX_QUERY_TERMS:
            raise InvalidSearchQuery(
                f"search query has too many terms: at most {MAX_QUERY_TERMS} words and phrases"
            )
        if char == '"':
            close = text.find('"', position + 1)
            if close < 0:
                raise InvalidSearchQuery(
                    f'unbalanced quote in search query {text!r}: close the phrase with "'
                )
            body, position = text[position + 1 : close], close + 1
        else:
            stop = position
            while stop < end and not text[stop].isspace() and text[stop] != '"':
                stop += 1
            body, position = text[position:stop], stop
        prefix = False
        if body.endswith("*") or (position < end and text[position] == "*"):
            prefix = True
            body = body.rstrip("*")
            while position < end and text[position] == "*":
                position += 1
        body = "".join(char if char.isprintable() else " " for char in body).strip()
        if any(char.isalnum() for char in body):
            terms.append(Term(body, prefix))
    if not terms:
        raise InvalidSearchQuery(
            f"search query {text!r} has nothing to search for: give a word with letters or digits"
        )
    return terms


def message_text(content: object) -> str:
    """A message's searchable text: the string, or every string inside structured content
    (values, not keys), one per line, in document order."""
    if isinstance(content, str):
        return content
    strings = []
    stack = [content]
    while stack:  # no recursion: content may nest as deep as its file allows
        value = stack.pop()
        if isinstance(value, str):
            strings.append(value)
        elif isinstance(value, dict):
            stack.extend(reversed(list(value.values())))
        elif isinstance(value, list):
            stack.extend(reversed(value))
    return "\n".join(strings)


_UNHELD = re.compile("[\x00\x02\x03\ud800-\udfff]")


def searchable_text(content: object) -> str:
    """What every store searches and quotes in snippets for a message whose content is
    `content`: its text (message_text), with what some store cannot hold (a NUL, a lone
    surrogate) as U+FFFD and the snippet marks as spaces. One rule, so that the same sessions
    give the same rows, snippets included, on every store."""
    text = message_text(content)
    if not _UNHELD.search(text):
        return text
    return _UNHELD.sub(lambda found: " " if found.group() in "\x02\x03" else "\ufffd", text)


def snippet_parts(snippet: str) -> Iterator[tuple[str, bool]]:
    """(text, is_a_match) pieces of a snippet, for a terminal to highlight the matches."""
    rest = snippet
    while rest:
        start = rest.find(MARK_START)
        if start < 0:
            yield rest, False
            return
        if start:
            yield rest[:start], False
        end = rest.find(MARK_END, start)
        if end < 0:
            yield rest[start + 1 :], True
            return
        yield rest[start + 1 : end], True
        rest = rest[end + 1 :]


def plain_snippet(snippet: str) -> str:
    """The snippet without its marks (JSON output, or no terminal)."""
    return snippet.replace(MARK_START, "").replace(MARK_END, "")


# -- a plain search, for a store without a search index --------------------------------------
# Words as SQLite's unicode61 tokenizer (remove_diacritics 2) sees them: runs of letters and
# digits, case and accents folded, so that every store finds the same sessions.

_WORD = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def _words(text: str) -> list[tuple[str, int, int]]:
    """(folded word, start, end) of every word of `text` (offsets into `text` when folding
    keeps its length; else into the folded text, good enough for a snippet)."""
    folded = fold(text)
    source = text if len(folded) == len(text) else folded
    return [
        (match.group().casefold() if source is text else match.group(), match.start(), match.end())
        for match in _WORD.finditer(folded if source is folded else text)
    ]


def _term_words(term: Term) -> list[str]:
    return [fold(word) for word, _, _ in _words(term.text)]  # folded as the text's words are


def search_terms(query: str) -> list[tuple[list[str], bool]]:
    """(folded words, is a prefix) of each term of `query` that has words: what match_message
    takes. Raises InvalidSearchQuery."""
    terms = [(_term_words(term), term.prefix) for term in parse_query(query)]
    return [(words, prefix) for words, prefix in terms if words]


def _find(words: list[str], wanted: list[str], prefix: bool) -> int:
    """The index of the first word where `wanted` starts in `words`, -1 when nowhere."""
    count = len(wanted)
    for start in range(len(words) - count + 1):
        if all(words[start + i] == wanted[i] for i in range(count - 1)) and (
            words[start + count - 1].startswith(wanted[-1])
            if prefix
            else words[start + count - 1] == wanted[-1]
        ):
            return start
    return -1


def match_message(text: str, terms: list[tuple[list[str], bool]]) -> str | None:
    """A snippet of `text` (a searchable_text) around its first match when every term is in
    it, else None: the one snippet rule of every store."""
    located = _words(text)
    words = [fold(word) for word, _, _ in located]
    marked: set[int] = set()
    for wanted, prefix in terms:
        found = _find(words, wanted, prefix)
        if found < 0:
            return None
        marked.update(range(found, found + len(wanted)))
    return _snippet(text, located, marked)


def _snippet(text: str, located: list, marked: set[int]) -> str:
    first = min(marked) if marked else 0
    # A few words before the first match, more when the text ends soon after it: as much of
    # the text as SNIPPET_TOKENS words can show (a short message whole).
    begin = max(min(first - SNIPPET_TOKENS // 4, len(located) - SNIPPET_TOKENS), 0)
    end = min(begin + SNIPPET_TOKENS, len(located))
    pieces = ["…" if begin else ""]
    cursor = located[begin][1] if located else 0
    for index in range(begin, end):
        _, start, stop = located[index]
        pieces.append(text[cursor:start])
        pieces.append(
            f"{MARK_START}{text[start:stop]}{MARK_END}" if index in marked else text[start:stop]
        )
        cursor = stop
    pieces.append("…" if end < len(located) else text[cursor:])
    return "".join(pieces).strip()


def message_matcher(query: str):
    """A function telling whether a message (a dict of a session's messages) matches `query`,
    as `search` decides it; raises InvalidSearchQuery."""
    terms = [(_term_words(term), term.prefix) for term in parse_query(query)]
    terms = [(words, prefix) for words, prefix in terms if words]

    def matches(message: object) -> bool:
        return (
            isinstance(message, dict)
            and match_message(message_text(message.get("content")), terms) is not None
        )

    return matches


def search_sessions(sessions: Iterable[Session], query: str, role: str | None = None):
    """(session, matching messages, snippet of the first) for each session with a message
    that holds every term of `query`; raises InvalidSearchQuery."""
    terms = search_terms(query)
    for session in sessions:
        matches, snippet = 0, None
        for message in session.messages:
            if not isinstance(message, dict) or (role is not None and message.get("role") != role):
                continue
            found = match_message(searchable_text(message.get("content")), terms)
            if found is not None:
                matches += 1
                snippet = found if snippet is None else snippet
        if matches:
            yield session, matches, snippet
