"""`open_store`: the one place that turns the command line and the environment into a store."""

from __future__ import annotations

import pytest

from mofa.errors import InvalidStoreLocation
from mofa.stores import open_store
from mofa.stores.urls import masked
from tests.helpers import listed_ids, run, write_session


def test_sessions_dir_on_the_command_line_beats_mofa_store_in_the_environment(root):
    write_session(root, "a", "s")
    result = run(
        "--sessions-dir",
        str(root),
        "session",
        "list",
        "-f",
        "json",
        env={"MOFA_STORE": "nosuch://x"},
    )
    assert result.exit_code == 0, result.stderr
    assert listed_ids(result) == ["a:s"]


def test_store_and_sessions_dir_together_are_a_usage_error(root):
    result = run("--store", "file:///tmp", "--sessions-dir", str(root), "session", "list")
    assert result.exit_code == 2
    assert "either --store or --sessions-dir" in result.stderr


def test_a_file_url_names_a_files_root(root):
    write_session(root, "a", "s")
    result = run("--store", f"file://{root}", "session", "list", "-f", "json")
    assert listed_ids(result) == ["a:s"]


@pytest.mark.parametrize("url", ["mysql://user:hunter2@db/x", "hunter2", "redis://:hunter2@h"])
def test_an_unknown_store_is_refused_without_showing_a_password(root, url):
    result = run("--store", url, "session", "list")
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and errors[0].startswith("Error: unknown store")
    assert "hunter2" not in result.stderr or url == "hunter2"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("postgresql://me:s3cret@db:5432/x", "postgresql://me:***@db:5432/x"),
        ("postgresql://me@db/x", "postgresql://me@db/x"),
        ("host=db password=s3cret user=me", "host=db password=*** user=me"),
        (
            "postgresql://db/x?password=s3cret&sslmode=require",
            "postgresql://db/x?password=***&sslmode=require",
        ),
        (
            "could not connect to postgresql://u:p%40ss@h/x: refused",
            "could not connect to postgresql://u:***@h/x: refused",
        ),
    ],
)
def test_passwords_are_masked(text, expected):
    assert masked(text) == expected


def test_open_store_refuses_an_unknown_scheme():
    with pytest.raises(InvalidStoreLocation):
        open_store("nosuch://x")
