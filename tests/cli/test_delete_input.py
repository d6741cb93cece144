"""`delete -` reads ids as written, and several ids naming one session delete it once."""

from __future__ import annotations

import subprocess

import pytest

from tests.helpers import BIN, listed_ids, run, write_jsonl, write_session


def _delete_from_stdin(data: bytes, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "mofa"), "session", "delete", "-", "--force", *args],
        input=data,
        capture_output=True,
        timeout=120,
    )


def test_a_carriage_return_is_part_of_the_id_read_from_standard_input(root):
    write_jsonl(root, "abc")
    result = _delete_from_stdin(b"abc\r\n")
    assert result.returncode == 1, result.stderr
    assert listed_ids(run("session", "list", "-f", "json")) == ["abc"]
    assert b"Deleted" not in result.stderr


def test_a_line_without_its_final_newline_is_still_an_id(root):
    write_jsonl(root, "abc")
    write_jsonl(root, "abd")
    result = _delete_from_stdin(b"abc\nabd")
    assert result.returncode == 0, result.stderr
    assert listed_ids(run("session", "list", "-f", "json")) == []


def test_a_line_that_is_not_utf8_is_an_error_and_the_other_lines_are_deleted(root):
    write_session(root, "a", "s1")
    write_session(root, "a", "s2")
    write_session(root, "a", "s3")
    result = _delete_from_stdin(b"a:s1\na:\xff\na:s2\n")
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.decode().splitlines() if line.startswith("Error:")]
    assert errors == ["Error: line 2 of standard input is not valid UTF-8: a:\\xff"]
    assert "Traceback" not in result.stderr.decode()
    assert listed_ids(run("session", "list", "-f", "json")) == ["a:s3"]


def test_the_first_failure_in_input_order_sets_the_status(root):
    write_session(root, "a", "s1")
    result = _delete_from_stdin(b"nope:x\n\xfe\na:s1\n")
    assert result.returncode == 1, result.stderr
    assert listed_ids(run("session", "list", "-f", "json")) == []


@pytest.mark.parametrize(
    "ids",
    [
        ("session-123", "agent-001:session-123"),
        ("agent-001:session-123", "session-123"),
        ("session-123", "agent-001:session-123", "session-123"),
    ],
)
def test_one_session_named_by_its_full_and_short_id_is_deleted_once(root, ids):
    write_session(root, "agent-001", "session-123")
    write_session(root, "agent-001", "session-124")
    result = run("session", "delete", *ids, "--force")
    assert result.exit_code == 0, result.stderr
    assert "Error" not in result.stderr
    assert "✓ Deleted 1 session" in result.stderr
    assert listed_ids(run("session", "list", "-f", "json")) == ["agent-001:session-124"]
