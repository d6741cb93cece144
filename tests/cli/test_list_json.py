"""`list --output-format json` writes its usual rows without the json module: exactly what
json.dumps writes, for any text."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from mofa.cli.listing import _json_item, _plain_item


def reference(session_id, created_at, message_count, status) -> str:
    item = {
        "session_id": session_id,
        "created_at": created_at,
        "message_count": message_count,
        "status": status,
    }
    try:
        text = json.dumps(item, indent=2, ensure_ascii=False)
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(item, indent=2)
    return text.replace("\n", "\n  ")


@settings(max_examples=500)
@given(
    st.text(),
    st.one_of(st.none(), st.text()),
    st.integers(min_value=0, max_value=2**63 - 1),
    st.text(),
)
def test_a_row_is_written_as_json_dumps_writes_it(session_id, created_at, count, status):
    fast = _plain_item(session_id, created_at, count, status)
    expected = reference(session_id, created_at, count, status)
    assert (
        fast if fast is not None else _json_item(session_id, created_at, count, status)
    ) == expected


def test_usual_rows_take_the_fast_way_and_odd_ones_the_json_module():
    assert _plain_item("agent-001:s 1", "2024-02-28 10:30:00", 3, "active") is not None
    for odd in ('a"b', "a\\b", "a\nb", "caf\udce9", "\x7f"):
        assert _plain_item(odd, None, 1, "active") is None
