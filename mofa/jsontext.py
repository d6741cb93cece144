"""JSON text for `show` and `export`: strict, exact, and at any depth of nesting.

`json.dumps` writes a float subclass through `float.__repr__` (so `1e400` read as infinity
comes out as `Infinity`, which is not JSON) and, with `indent`, recurses once per level. This
writer keeps an ExactFloat's text, writes any other non-finite float as `null`, and walks the
value with a stack of its own; its layout is json.dumps's with the same options.
"""

from __future__ import annotations

import math
from itertools import chain
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any

from mofa.numbers import ExactFloat


def _string(value: str) -> str:
    text = encode_basestring(value)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate from a \u escape: keep it escaped
            text = encode_basestring_ascii(value)
    return text


def _scalar(value) -> str | None:
    """The JSON text of a scalar; None for a container."""
    if isinstance(value, str):
        return _string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, ExactFloat):
        return value.text
    if isinstance(value, float):
        return float.__repr__(value) if math.isfinite(value) else "null"
    if isinstance(value, (dict, list, tuple)):
        return None
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _key(key) -> str:
    text = key if isinstance(key, str) else _scalar(key)  # 1 -> "1", as json does
    if text is None:
        raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
    return _string(text)


_END = object()


def _flat_parts(mapping: dict):
    yield from mapping
    yield from mapping.values()


def dumps(value, indent: int | None = 2) -> str:
    """`value` as JSON: `indent` spaces per level, or compact (`,` and `:`) with None."""
    out: list[str] = []
    append = out.append
    key_separator = ": " if indent is not None else ":"
    pads: list[str] = []  # the line break and indent before an item at each depth
    stack: list[list] = []  # [iterator, is a dict, depth, first item still to come]

    def pad(depth: int) -> str:
        while len(pads) <= depth:
            pads.append("" if indent is None else "\n" + " " * (indent * len(pads)))
        return pads[depth]

    def emit(item, depth: int) -> None:
        scalar = _scalar(item)
        if scalar is not None:
            append(scalar)
        elif isinstance(item, dict):
            if item and all(type(part) is str for part in _flat_parts(item)):
                # a mapping of strings to strings (a message, mostly): written in one go
                inner = pad(depth + 1)
                append(
                    "{"
                    + ",".join(
                        inner + _string(key) + key_separator + _string(text)
                        for key, text in item.items()
                    )
                    + pad(depth)
                    + "}"
                )
            elif item:
                append("{")
                stack.append([iter(item.items()), True, depth + 1, True])
            else:
                append("{}")
        elif item:
            append("[")
            stack.append([iter(item), False, depth + 1, True])
        else:
            append("[]")

    emit(value, 0)
    while stack:
        frame = stack[-1]
        items, is_dict, depth, first = frame
        item: Any = next(items, _END)
        if item is _END:
            stack.pop()
            append(pad(depth - 1) + ("}" if is_dict else "]"))
            continue
        if first:
            frame[3] = False
            lead = pad(depth)
        else:
            lead = "," + pad(depth)
        if is_dict:
            key, item = item
            lead += (_string(key) if type(key) is str else _key(key)) + key_separator
        if type(item) is str:  # most values: written here, without a call to emit
            text = encode_basestring(item)
            append(lead + (text if text.isascii() else _string(item)))
        else:
            append(lead)
            emit(item, depth)
    return "".join(out)


# -- the same bytes, faster ----------------------------------------------------------------
# orjson writes json.dumps's layout (indent 2, or compact) and escapes strings as
# encode_basestring does, about 8x faster than `dumps` (1,000 sessions: 10 ms against 85).
# It differs on values `dumps` writes otherwise: a float it would write in another form
# (`1e-05` becomes `0.00001`), integers beyond 64 bits and lone surrogates (refused),
# non-string keys (refused), types `dumps` refuses (datetime: orjson writes them), and more
# than 255 levels of nesting (refused). `encode` hands orjson a value only when every scalar in
# it is a str, an int, a bool, None or an ExactFloat (written as its text), and anything
# orjson then refuses goes to `dumps`: the bytes are `dumps`'s, always.
_ORJSON_SCALARS = frozenset((str, int, bool, type(None), ExactFloat))
_ORJSON_CONTAINERS = frozenset((dict, list))
_ORJSON_TYPES = _ORJSON_SCALARS | _ORJSON_CONTAINERS
_ORJSON_DEPTH = 255


def _orjson_ready(value) -> bool:
    """Whether every scalar in `value` is of a type orjson writes as `dumps` does (ints and
    strings are checked by orjson itself, which refuses what it cannot write alike). Walked a
    level of nesting at a time, each level's types taken at C speed."""
    if type(value) not in _ORJSON_CONTAINERS:
        return type(value) in _ORJSON_SCALARS
    level = [value]
    for _ in range(_ORJSON_DEPTH):
        items = list(chain.from_iterable([c.values() if type(c) is dict else c for c in level]))
        types = set(map(type, items))
        if types <= _ORJSON_SCALARS:
            return True
        if not types <= _ORJSON_TYPES:
            return False
        level = [item for item in items if type(item) is dict or type(item) is list]
    return False  # nested deeper than orjson writes


def _exact_number(value):
    if type(value) is ExactFloat:
        from orjson import Fragment

        return Fragment(value.text)
    raise TypeError


def encode(value, indent: int | None = 2, newline: bool = False) -> bytes:
    """`dumps(value, indent)` (and a line break with `newline`) as UTF-8 bytes, byte for byte;
    written by orjson where it gives those very bytes. `indent` is 2 or None."""
    if indent in (2, None) and _orjson_ready(value):
        try:
            import orjson
        except ImportError:
            pass
        else:
            options = (orjson.OPT_INDENT_2 if indent else 0) | (
                orjson.OPT_APPEND_NEWLINE if newline else 0
            )
            try:
                return orjson.dumps(value, default=_exact_number, option=options)
            except TypeError:  # a big integer, a lone surrogate, a key that is no string
                pass
    return (dumps(value, indent) + ("\n" if newline else "")).encode("utf-8")
