"""JSON text for `show` and `export`: strict, exact, and at any depth of nesting.

`json.dumps` writes a float subclass through `float.__repr__` (so `1e400` read as infinity
comes out as `Infinity`, which is not JSON) and, with `indent`, recurses once per level. This
writer keeps an ExactFloat's text, writes any other non-finite float as `null`, and walks the
value with a stack of its own; its layout is json.dumps's with the same options.
"""

from __future__ import annotations

import math
from json.encoder import encode_basestring, encode_basestring_ascii

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


def dumps(value, indent: int | None = 2) -> str:
    """`value` as JSON: `indent` spaces per level, or compact (`,` and `:`) with None."""
    out: list[str] = []
    key_separator = ": " if indent is not None else ":"
    stack: list[list] = []  # [iterator, is a dict, depth, first item still to come]

    def newline(depth: int) -> None:
        if indent is not None:
            out.append("\n" + " " * (indent * depth))

    def emit(item, depth: int) -> None:
        scalar = _scalar(item)
        if scalar is not None:
            out.append(scalar)
        elif isinstance(item, dict):
            if item:
                out.append("{")
                stack.append([iter(item.items()), True, depth + 1, True])
            else:
                out.append("{}")
        elif item:
            out.append("[")
            stack.append([iter(item), False, depth + 1, True])
        else:
            out.append("[]")

    emit(value, 0)
    while stack:
        frame = stack[-1]
        items, is_dict, depth, first = frame
        try:
            item = next(items)
        except StopIteration:
            stack.pop()
            newline(depth - 1)
            out.append("}" if is_dict else "]")
            continue
        if not first:
            out.append(",")
        frame[3] = False
        newline(depth)
        if is_dict:
            out.append(_key(item[0]) + key_separator)
            emit(item[1], depth)
        else:
            emit(item, depth)
    return "".join(out)
