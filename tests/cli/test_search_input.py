"""`search` takes any limit and refuses, in one line, a query too long to run."""

from __future__ import annotations

import json

import pytest

from tests.helpers import message, run_installed, write_session


@pytest.mark.parametrize("limit", ["9223372036854775807", "9223372036854775808", "1" + "0" * 40])
def test_a_limit_larger_than_sql_can_count_means_every_session(root, limit):
    write_session(root, "a", "s", messages=[message("user", "refund please")])
    result = run_installed("session", "search", "refund", "-n", limit, "-f", "json")
    assert result.returncode == 0, result.stderr
    assert [row["session_id"] for row in json.loads(result.stdout)] == ["a:s"]
