"""Searching message text, the part every store shares: the query language (parse_query:
words that all must match in one message, `"a phrase"`, `prefix*`, `a OR b`, `-word`, `NOT
word`, parentheses), the text of a message, snippets with marked matches, and
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
    """A word, `"a phrase"` or `prefix*` as typed (`text`), and its folded words (`words`):
    a message holds it when the words are consecutive in it, the last only starting so for a
    prefix."""

    text: str
    prefix: bool
    words: tuple[str, ...] = ()


class Not(NamedTuple):
    """`-x` or `NOT x`: the message does not hold `operand`."""

    operand: Node


class And(NamedTuple):
    """Terms side by side, or joined by `AND`: the message holds every one."""

    operands: tuple[Node, ...]


class Or(NamedTuple):
    """`a OR b`: the message holds at least one."""

    operands: tuple[Node, ...]


Node = Term | Not | And | Or

_OPERATORS = {"AND", "OR", "NOT"}  # upper case only: `or` is a word like any other


def _tokens(text: str) -> list[tuple[str, object]]:
    """("(" | ")" | "-" | "AND" | "OR" | "NOT" | "term", value) of the query text."""
    tokens: list[tuple[str, object]] = []
    position, end = 0, len(text)
    while position < end:
        char = text[position]
        if char.isspace():
            position += 1
            continue
        if char in "()":
            tokens.append((char, None))
            position += 1
            continue
        if char == "-" and position + 1 < end and text[position + 1] not in " \t\n\r-)":
            # `-` starting a term negates it; inside a word (`e-mail`) it is part of the word.
            tokens.append(("-", None))
            position += 1
            continue
        quoted = char == '"'
        if quoted:
            close = text.find('"', position + 1)
            if close < 0:
                raise InvalidSearchQuery(
                    f'unbalanced quote in search query {text!r}: close the phrase with "'
                )
            body, position = text[position + 1 : close], close + 1
        else:
            stop = position
            while stop < end and not text[stop].isspace() and text[stop] not in '"()':
                stop += 1
            body, position = text[position:stop], stop
        if not quoted and body in _OPERATORS:
            tokens.append((body, None))
            continue
        prefix = False
        if body.endswith("*") or (position < end and text[position] == "*"):
            prefix = True
            body = body.rstrip("*")
            while position < end and text[position] == "*":
                position += 1
        body = "".join(char if char.isprintable() else " " for char in body).strip()
        tokens.append(("term", Term(body, prefix, tuple(fold(w) for w, _, _ in _words(body)))))
    return tokens


def _flat(operands: list, kind: type[And] | type[Or]) -> tuple:
    """`a (b c)` as `a b c`: a group of the same kind spliced into its parent."""
    flat: list = []
    for operand in operands:
        flat.extend(operand.operands if isinstance(operand, kind) else (operand,))
    return tuple(flat)


class _Parser:
    """Recursive descent, loosest first: OR, then AND (implicit or written), then NOT / `-`."""

    def __init__(self, text: str, tokens: list[tuple[str, object]]):
        self.text, self.tokens, self.at = text, tokens, 0

    def peek(self) -> str | None:
        return self.tokens[self.at][0] if self.at < len(self.tokens) else None

    def refuse(self, why: str) -> InvalidSearchQuery:
        return InvalidSearchQuery(f"search query {self.text!r}: {why}")

    def any_of(self, depth: int) -> Node | None:
        operands = [self.all_of(depth)]
        while self.peek() == "OR":
            self.at += 1
            operands.append(self.all_of(depth))
        if len(operands) > 1 and any(operand is None for operand in operands):
            raise self.refuse("OR needs something to search for on each side")
        return operands[0] if len(operands) == 1 else Or(_flat(operands, Or))

    def all_of(self, depth: int) -> Node | None:
        operands: list[Node] = []
        written = False  # the last token was AND: a term must follow
        seen = False  # a term (or group) came before, even one left out
        while self.peek() not in (None, "OR", ")"):
            if self.peek() == "AND":
                if written or not seen:
                    raise self.refuse("AND needs something to search for on each side")
                written = True
                self.at += 1
                continue
            written, seen = False, True
            operand = self.unary(depth)
            if operand is not None:
                operands.append(operand)
        if written:
            raise self.refuse("AND needs something to search for on each side")
        if not operands:
            return None
        return operands[0] if len(operands) == 1 else And(_flat(operands, And))

    def unary(self, depth: int) -> Node | None:
        kind, value = self.tokens[self.at]
        self.at += 1
        if kind in ("-", "NOT"):
            if self.peek() in (None, "OR", "AND", ")"):
                raise self.refuse(f"{kind} needs a word, phrase or group to leave out")
            operand = self.unary(depth)
            if operand is None:
                return None
            return operand.operand if isinstance(operand, Not) else Not(operand)
        if kind == "(":
            if depth >= MAX_QUERY_TERMS:
                raise self.refuse("too deeply nested")
            inner = self.any_of(depth + 1)
            if self.peek() != ")":
                raise self.refuse("unbalanced parenthesis: close the group with )")
            self.at += 1
            return inner
        if kind == ")":
            raise self.refuse("unbalanced parenthesis: ) without (")
        assert isinstance(value, Term)
        # A term with no letter or digit cannot match anything and is left out.
        return value if value.words else None


def _positive(node: Node) -> bool:
    """Whether a message must hold some word to match `node`: a negation alone matches
    almost every message."""
    if isinstance(node, Term):
        return True
    if isinstance(node, Not):
        return False
    if isinstance(node, And):
        return any(_positive(operand) for operand in node.operands)
    return all(_positive(operand) for operand in node.operands)


def _negations_positive(node: Node) -> bool:
    if isinstance(node, Term):
        return True
    if isinstance(node, Not):
        return _positive(node.operand) and _negations_positive(node.operand)
    return all(_negations_positive(operand) for operand in node.operands)


def terms_of(node: Node) -> list[Term]:
    """Every term of the expression, negated ones included, in query order."""
    if isinstance(node, Term):
        return [node]
    if isinstance(node, Not):
        return terms_of(node.operand)
    return [term for operand in node.operands for term in terms_of(operand)]


def parse_query(text: str) -> Node:
    """The query as an expression tree (Term, Not, And, Or), the one reading every store
    uses; raises InvalidSearchQuery for a query it cannot take.

    Words must all be in one message, `"a phrase"` its words in a row, `prefix*` a word
    starting so; `a OR b` either; `-word` or `NOT word` not in it; parentheses group. NOT binds
    tightest, then AND (written or implied by a space), then OR. The operators are upper case
    (`or` is a word). A `-` inside a word (`e-mail`) is part of the word. A word or phrase with
    no letter or digit cannot match anything and is left out. At most MAX_QUERY_TERMS terms and
    MAX_QUERY_CHARS characters.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidSearchQuery("empty search query: give words to search for")
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidSearchQuery(
            f"search query too long: {len(text):,} characters (at most {MAX_QUERY_CHARS:,})"
        )
    tokens = _tokens(text)
    terms = sum(kind == "term" for kind, _ in tokens)
    if terms > MAX_QUERY_TERMS:
        raise InvalidSearchQuery(
            f"search query has too many terms: {terms} (at most {MAX_QUERY_TERMS})"
        )
    parser = _Parser(text, tokens)
    tree = parser.any_of(0)
    if parser.at < len(tokens):  # only a `)` stops the outermost OR early
        raise parser.refuse("unbalanced parenthesis: ) without (")
    if tree is None:
        raise InvalidSearchQuery(
            f"search query {text!r} has nothing to search for: give a word with letters or digits"
        )
    if not _positive(tree) or not _negations_positive(tree):
        raise parser.refuse(
            "it would match almost every message: a negation (-word, NOT word) leaves words"
            " out of what other words find; give a word to search for beside it"
        )
    return tree


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


def plain_terms(tree: Node) -> list[tuple[list[str], bool]] | None:
    """(folded words, is a prefix) of each term when the query is terms that must all be in
    the message (no OR, no negation), else None: what a store's fast ranking takes."""
    operands = tree.operands if isinstance(tree, And) else (tree,)
    terms = [operand for operand in operands if isinstance(operand, Term)]
    if len(terms) < len(operands):
        return None
    return [(list(term.words), term.prefix) for term in terms]


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


def _evaluate(node: Node, words: list[str]) -> set[int] | None:
    """The word indexes a match of `node` marks in a message of `words`, None when it does not
    match. A negation marks nothing; an OR marks what each alternative that matches marks."""
    if isinstance(node, Term):
        start = _find(words, list(node.words), node.prefix)
        return None if start < 0 else set(range(start, start + len(node.words)))
    if isinstance(node, Not):
        return set() if _evaluate(node.operand, words) is None else None
    marked: set[int] = set()
    if isinstance(node, And):
        for operand in node.operands:
            found = _evaluate(operand, words)
            if found is None:
                return None
            marked |= found
        return marked
    matched = False
    for operand in node.operands:
        found = _evaluate(operand, words)
        if found is not None:
            matched = True
            marked |= found
    return marked if matched else None


def match_message(text: str, query: Node) -> str | None:
    """A snippet of `text` (a searchable_text) around its first marked match when it matches
    `query` (parse_query), else None: the one snippet rule of every store."""
    located = _words(text)
    marked = _evaluate(query, [fold(word) for word, _, _ in located])
    return None if marked is None else _snippet(text, located, marked)


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
    tree = parse_query(query)

    def matches(message: object) -> bool:
        return (
            isinstance(message, dict)
            and match_message(message_text(message.get("content")), tree) is not None
        )

    return matches


def search_sessions(sessions: Iterable[Session], query: str, role: str | None = None):
    """(session, matching messages, snippet of the first, its position from 1) for each
    session with a message that matches `query`; raises InvalidSearchQuery."""
    tree = parse_query(query)
    for session in sessions:
        matches, snippet, first = 0, None, None
        for position, message in enumerate(session.messages, 1):
            if not isinstance(message, dict) or (role is not None and message.get("role") != role):
                continue
            found = match_message(searchable_text(message.get("content")), tree)
            if found is not None:
                matches += 1
                if snippet is None:
                    snippet, first = found, position
        if matches:
            yield session, matches, snippet, first
