"""`delete - -0`: NUL-separated ids on standard input, as `find -print0` and `jq -j` write."""

from __future__ import annotations

import subprocess

import pytest

from tests.helpers import BIN, listed_ids, run, run_installed, write_jsonl, write_session


@pytest.mark.parametrize("final", ["\0", ""])
def test_ids_separated_by_nul_final_nul_optional(root, final):
    for name in ("s1", "s2", "s3"):
        write_session(root, "a", name)
    for flag in ("-0", "--null"):
        ids = "a:s1\0a:s2" + final
        result = run_installed("session", "delete", "-", flag, "--force", input=ids)
        assert result.returncode == 0, result.stderr
        assert "✓ Deleted 2 sessions" in result.stderr
        assert listed_ids(run("session", "list", "-f", "json")) == ["a:s3"]
        write_session(root, "a", "s1")
        write_session(root, "a", "s2")


def test_an_id_holding_a_newline_or_a_carriage_return(root):
    write_jsonl(root, "line\nbreak", file_stem="line_break")
    write_jsonl(root, "ends\r", file_stem="ends_r")
    write_session(root, "a", "kept")
    result = run_installed("session", "delete", "-", "-0", "--force", input="line\nbreak\0ends\r\0")
    assert result.returncode == 0, result.stderr
    assert listed_ids(run("session", "list", "-f", "json")) == ["a:kept"]


def test_a_missing_id_among_them_is_one_error_line(root):
    write_session(root, "a", "s1")
    result = run_installed("session", "delete", "-", "-0", "--force", input="nope:x\0a:s1\0")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "nope:x" in errors[0]
    assert listed_ids(run("session", "list", "-f", "json")) == []


def test_without_a_terminal_the_prompt_cancels(root):
    write_session(root, "a", "s1")
    result = subprocess.run(
        [str(BIN / "mofa"), "session", "delete", "-", "-0"],
        input="a:s1\0",
        text=True,
        capture_output=True,
        timeout=60,
        start_new_session=True,
    )  # no /dev/tty
    assert result.returncode == 0
    assert "Cancelled" in result.stderr
    assert listed_ids(run("session", "list", "-f", "json")) == ["a:s1"]


def test_null_without_standard_input_is_a_usage_error(root):
    write_session(root, "a", "s1")
    result = run_installed("session", "delete", "a:s1", "-0", "--force")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith("Error: ")
    assert listed_ids(run("session", "list", "-f", "json")) == ["a:s1"]
