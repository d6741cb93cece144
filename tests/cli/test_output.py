"""Streams, colour and help: what every command owes a terminal and a script."""

import json

import click
import pytest

from mofa.cli.commands import cli
from tests.helpers import run, write_session


@pytest.fixture
def one(root):
    write_session(root, "a", "s")


def test_results_on_stdout_progress_on_stderr(one, tmp_path):
    listing = run("session", "list")
    assert "→ Listing sessions" in listing.stderr and "→" not in listing.stdout
    shown = run("session", "show", "a:s", "-f", "json")
    json.loads(shown.stdout)
    exported = run("session", "export", "a:s", "-o", str(tmp_path / "x.json"))
    assert exported.stdout == ""
    assert "✓ Session exported successfully" in exported.stderr


def test_colour_on_a_terminal_only_and_never_with_no_color(one):
    coloured = run("session", "list", color=True)
    assert "\x1b[36m→\x1b[0m Listing sessions" in coloured.stderr
    plain = run("session", "list", color=False)
    assert "\x1b" not in plain.stderr + plain.stdout
    no_color = run("session", "list", color=True, env={"NO_COLOR": "1"})
    assert "\x1b" not in no_color.stderr + no_color.stdout
    error = run("session", "show", "a:nope", color=True)
    assert error.stderr == "\x1b[31mError:\x1b[0m session not found: a:nope\n"


def _commands(command, path=()):
    yield path, command
    if isinstance(command, click.Group):
        context = click.Context(command)
        for name in command.list_commands(context):
            yield from _commands(command.get_command(context, name), path + (name,))


@pytest.mark.parametrize(
    "path, command", list(_commands(cli)), ids=lambda v: " ".join(v) if isinstance(v, tuple) else ""
)
def test_every_command_has_help_with_an_example(path, command):
    assert command.help and command.help.strip(), f"{path} has no help"
    assert "Example" in command.help, f"{path} has no example"
    result = run(*path, "--help")
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: ")


def test_version():
    from mofa import __version__

    assert run("--version").stdout == f"mofa, version {__version__}\n"


def test_unknown_command_is_a_usage_error():
    result = run("session", "frobnicate")
    assert result.exit_code == 2
    assert "No such command 'frobnicate'" in result.stderr


def test_session_help_names_and_describes_every_command():
    from mofa.cli.commands import session

    names = session.list_commands(None)
    assert {"list", "show", "search", "export", "import", "delete", "prune", "query"} <= set(names)
    text = run("session", "--help").stdout
    summary = text.split("\n\n")[1].lower()
    listed = text.split("Commands:\n")[1].splitlines()
    for name in names:
        if name != "index":
            assert name in summary, name
        assert any(line.split()[:1] == [name] and len(line.split()) > 2 for line in listed), name


def test_export_and_query_help_name_their_formats_and_relations():
    export = run("session", "export", "--help").stdout
    assert "Markdown" in export and ".md" in export
    query = run("session", "query", "--help").stdout
    assert "`messages`" in query and "json_each" in query


def test_counts_of_one_are_singular(root, tmp_path):
    from tests.helpers import message

    write_session(root, "a", "s", [message("user", "only")], created_at="2024-01-01T00:00:00Z")
    assert run("session", "export", "a:s", "-o", str(tmp_path / "s.json")).exit_code == 0
    dry = run("session", "prune", "--before", "2025-01-01", "--dry-run")
    assert "Would prune 1 session (1 message);" in dry.stderr, dry.stderr
    pruned = run("session", "prune", "--before", "2025-01-01", "--force")
    assert "✓ Pruned 1 session (1 message)" in pruned.stderr, pruned.stderr
    imported = run("session", "import", str(tmp_path / "s.json"))
    assert "→ Importing 1 file\n" in imported.stderr, imported.stderr
    assert "✓ Imported 1 session (0 replaced, 0 unchanged)" in imported.stderr
    asked = run("session", "delete", "a:s", input="n\n")
    assert "Session contains 1 message." in asked.stderr, asked.stderr
    deleted = run("session", "delete", "a:s", "nothing:here", "--force")
    assert "✓ Deleted 1 session" in deleted.stderr and "1 sessions" not in deleted.stderr
    verified = run("session", "index", "verify")
    assert "✓ The index agrees with the 0 session files" in verified.stderr, verified.stderr
