""" "Did you mean": the few known ids or agents closest to one that names nothing."""

from __future__ import annotations

from collections.abc import Iterable

SUGGESTIONS = 3
CUTOFF = 0.6  # difflib's own default: below it, two strings share too little to be a typo
MARGIN = 0.1


def close_matches(
    wanted: str, candidates: Iterable[tuple[str, ...]], limit: int = SUGGESTIONS
) -> list[str]:
    """The first item of at most `limit` candidates, closest first (ties in text order): each
    candidate is (value, *other spellings of it), compared case-insensitively with `wanted`
    by difflib's ratio; the best of its spellings counts."""
    from difflib import SequenceMatcher

    matcher = SequenceMatcher()
    matcher.set_seq2(wanted.lower())
    scored: dict[str, float] = {}
    for candidate in candidates:
        value = candidate[0]
        for spelling in candidate:
            matcher.set_seq1(spelling.lower())
            # The cheap upper bounds first: most candidates are rejected by their length alone.
            if (
                matcher.real_quick_ratio() >= CUTOFF
                and matcher.quick_ratio() >= CUTOFF
                and (score := matcher.ratio()) >= CUTOFF
                and score > scored.get(value, 0.0)
            ):
                scored[value] = score
    scored.pop(wanted, None)
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
