"""`jsontext.encode` writes the reference writer's (`jsontext.dumps`) very bytes, whichever
writer it picks for a value: orjson where that gives the same bytes, `dumps` elsewhere."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mofa.jsontext import _orjson_ready, dumps, encode
from mofa.numbers import ExactFloat, exact_float


def reference(value, indent: int | None, newline: bool) -> bytes:
    return (dumps(value, indent) + ("\n" if newline else "")).encode("utf-8")


def nested(levels: int, inner=None):
    value = [] if inner is None else inner
    for level in range(levels):
        value = [value] if level % 2 else {"k": value}
    return value


AWKWARD = {
    "huge and odd numbers kept as text": {
        "n": [exact_float(t) for t in ("1e400", "-1e-400", "0.10000000000000000555", "1E+2")]
        + [exact_float("-0.0"), exact_float("1e-05"), exact_float("0.00001"), exact_float("2.5")]
    },
    "integers at and beyond 64 bits": [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1],
    "an integer of 300 digits": {"n": 10**300 + 7},
    "plain floats orjson writes otherwise": [1e-05, 1.5e-07, 1e16, 1e22, 0.1, -0.0, 5e-324],
    "non-finite floats": [float("nan"), float("inf"), -float("inf"), exact_float("1e999")],
    "unicode of every plane": "é \u2028 \u2029 \u0085 \u00a0 \ufeff 中文 𝄞 🎉 \U0010ffff",
    "control characters and escapes": "".join(map(chr, range(0x20))) + '\x7f"\\/',
    "a lone surrogate in a value": {"content": "before \ud800 after", "low": "\udfff"},
    "a lone surrogate in a key": {"\udc80key": 1},
    "a surrogate pair written as two escapes": json.loads('"\\ud83c\\udf89"'),
    "keys that are not strings": {1: "a", 2.5: "b", None: "c", False: "d"},
    "tuples": {"t": (1, (2, 3), ())},
    "empty containers": {"a": {}, "b": [], "c": [{}], "d": [[]]},
    "nested 250 levels": nested(250),
    "nested 256 levels": nested(256),
    "nested 1,000 levels": nested(1000, "leaf"),
    "a float deep inside": nested(40, [1.5e-08]),
    "duplicate keys, parsed": json.loads('{"a": 1, "b": 2, "a": 3}'),
    "a big session": {
        "session_id": "a:big",
        "messages": [
            {"role": "user", "content": "x" * 1000 + str(i), "timestamp": "2024-01-01T00:00:00Z"}
            for i in range(3000)
        ],
    },
    "str and int subclasses": {"s": type("S", (str,), {})("text"), "b": [True, False, None]},
    "a top-level scalar": "just a string",
}


@pytest.mark.parametrize("value", AWKWARD.values(), ids=AWKWARD.keys())
@pytest.mark.parametrize("indent", [2, None])
@pytest.mark.parametrize("newline", [True, False])
def test_awkward_values_give_the_reference_bytes(value, indent, newline):
    assert encode(value, indent, newline) == reference(value, indent, newline)


def test_a_parsed_session_goes_to_orjson_and_a_plain_float_does_not():
    parsed = json.loads(
        '{"session_id": "a:b", "metadata": {"score": 1e400}, "messages": [{"role": "user",'
        ' "content": {"result": [0.10000000000000000555, 12345678901234567890123]}}]}',
        parse_float=exact_float,
    )
    assert _orjson_ready(parsed)
    assert encode(parsed) == reference(parsed, 2, False)
    assert not _orjson_ready({"messages": [{"content": [1e-05]}]})
    assert not _orjson_ready({"when": datetime(2024, 1, 1, tzinfo=UTC)})
    assert not _orjson_ready(nested(256))


@pytest.mark.parametrize("value", [datetime(2024, 1, 1, tzinfo=UTC), {"s": {1, 2}}, object()])
def test_what_the_reference_writer_refuses_is_refused_alike(value):
    with pytest.raises(TypeError):
        dumps(value)
    with pytest.raises(TypeError):
        encode(value)


CHARACTERS = st.characters(exclude_categories=())  # lone surrogates too
NUMBER_TEXTS = st.from_regex(r"\A-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,25})?([eE][+-]?[0-9]{1,4})?\Z")
SCALARS = (
    st.text(alphabet=CHARACTERS, max_size=20)
    | st.integers(min_value=-(2**70), max_value=2**70)
    | NUMBER_TEXTS.filter(lambda text: any(c in text for c in ".eE")).map(ExactFloat)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.none()
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.text(alphabet=CHARACTERS, max_size=8), inner, max_size=5)
    ),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(value=VALUES, indent=st.sampled_from([2, None]), newline=st.booleans())
def test_any_json_value_gives_the_reference_bytes(value, indent, newline):
    assert encode(value, indent, newline) == reference(value, indent, newline)


@settings(max_examples=200, deadline=None)
@given(value=VALUES)
def test_any_json_text_read_back_exactly_gives_the_reference_bytes(value):
    """A value as the readers give it: parsed from JSON text, every float an ExactFloat."""
    parsed = json.loads(dumps(value), parse_float=exact_float)
    for indent in (2, None):
        assert encode(parsed, indent, True) == reference(parsed, indent, True)
