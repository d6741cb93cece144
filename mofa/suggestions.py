""" "Did you mean": the few known ids or agents closest to one that names nothing."""

from __future__ import annotations

from collections.abc import Iterable

SUGGESTIONS = 3
CUTOFF = 0.6  # difflib's own default: below it, two strings share too little to be a typo
MARGIN = 0.1


class _Closeness:
    """difflib's ratio of strings to one fixed string, case-insensitive, 0.0 below CUTOFF."""

    def __init__(self, wanted: str):
        from difflib import SequenceMatcher

        self.matcher = SequenceMatcher()
        self.matcher.set_seq2(wanted.lower())

    def __call__(self, text: str) -> float:
        matcher = self.matcher
        matcher.set_seq1(text.lower())
        # The cheap upper bounds first: most candidates are rejected by their length alone.
        if matcher.real_quick_ratio() < CUTOFF or matcher.quick_ratio() < CUTOFF:
            return 0.0
        score = matcher.ratio()
        return score if score >= CUTOFF else 0.0


def close_matches(
    wanted: str, candidates: Iterable[tuple[str, ...]], limit: int = SUGGESTIONS
) -> list[str]:
    """The first item of at most `limit` candidates, closest first (ties in text order), none
    far behind the closest. A candidate is (value, *other spellings of it: a session part).
    An id `agent:name` is close to another when both parts are (a shared agent alone is no
    likeness); a text without `:` is compared with whole values and their other spellings."""
    whole = _Closeness(wanted)
    head, colon, tail = wanted.partition(":")
    agent, name = (_Closeness(head), _Closeness(tail)) if colon else (None, None)
    scored: dict[str, float] = {}
    for value, *spellings in candidates:
        if agent is not None and name is not None and ":" in value:
            other_head, _, other_tail = value.partition(":")
            score = whole(value) if agent(other_head) and name(other_tail) else 0.0
        else:
            score = max([whole(value), *(whole(spelling) for spelling in spellings)])
        if score and value != wanted:
            scored[value] = max(score, scored.get(value, 0.0))
    if not scored:
        return []
    ranked = sorted(scored, key=lambda value: (-scored[value], value))[:limit]
    # Far behind the best, a candidate is only a look-alike of it: not offered.
    return [value for value in ranked if scored[value] >= scored[ranked[0]] - MARGIN]


def did_you_mean(suggestions: list[str]) -> str:
    """` (did you mean a, b or c?)`, or "" without suggestions."""
    if not suggestions:
        return ""
    shown = [repr(item) if _needs_quotes(item) else item for item in suggestions]
    listed = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]
    return f" (did you mean {listed}?)"


def _needs_quotes(text: str) -> bool:
    return not text or any(not char.isprintable() or char in " ,?'\"()" for char in text)
