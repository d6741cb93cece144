"""JSON numbers that keep the text they were written as.

A float cannot hold `1e400` (it becomes infinity) or `0.10000000000000000555` (it becomes
0.1). `show` and `export` promise every value exactly as stored, so the JSON they read gives
each number with a fraction or an exponent as an `ExactFloat`: a float for anything that
computes with it, and its original text for the writers (mofa.jsontext, the YAML writer).
Integers need nothing: Python's are exact at any size.
"""

from __future__ import annotations


class ExactFloat(float):
    """A float that remembers its JSON text."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> ExactFloat:
        number = super().__new__(cls, text)
        number.text = text
        return number

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__

    def __reduce__(self):  # pickles (to a pool worker and back) with its text
        return ExactFloat, (self.text,)


def exact_float(text: str) -> ExactFloat:
    """`parse_float` for json.loads: keeps the number's text."""
    return ExactFloat(text)
