"""Random session documents round-trip through `export` json and yaml unchanged."""

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from tests.helpers import run

text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | text
    | st.floats(allow_nan=False, allow_infinity=False)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "assistant", "system", "tool"]), "content": values},
        optional={"timestamp": text | st.just("2024-02-28T10:30:05.5+00:00"), "extra": values},
    ),
    max_size=6,
)
documents = st.fixed_dictionaries(
    {"messages": messages},
    optional={
        "created_at": text,
        "metadata": st.dictionaries(text, values, max_size=4),
        "status": values,
        "session_id": text,
        "custom": values,
    },
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(document=documents)
def test_export_round_trips(root, tmp_path, document):
    path = root / "agent" / "random.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(document))
    expected = document if "session_id" in document else {"session_id": "agent:random", **document}
    for fmt in ("json", "yaml"):
        out = tmp_path / f"out.{fmt}"
        result = run("session", "export", "agent:random", "-o", str(out))
        assert result.exit_code == 0, result.stderr
        loaded = (
            json.loads(out.read_text()) if fmt == "json" else YAML(typ="safe").load(out.read_text())
        )
        assert loaded == expected
        os.unlink(out)
