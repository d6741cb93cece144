"""What a person at a terminal gets, checked on a real pseudo-terminal: the pager (git's rules:
MOFA_PAGER, PAGER, `less -FRX`; `--no-pager`; never when stdout is not a terminal) and colour
(`--color auto|always|never`, NO_COLOR)."""

from __future__ import annotations

import os

import pytest

from tests.helpers import EXAMPLES, run_in_terminal, run_installed

SHOW = ("--sessions-dir", str(EXAMPLES), "session", "show", "session-124")
SEARCH = ("--sessions-dir", str(EXAMPLES), "session", "search", "refund")


@pytest.fixture
def recorder(tmp_path):
    """A pager that records what it was given, and how it was started."""
    paged = tmp_path / "paged"
    script = tmp_path / "pager"
    script.write_text(f'#!/bin/sh\necho "$0 $*" > "{paged}.args"\ncat > "{paged}"\n')
    script.chmod(0o755)
    return script, paged


def test_show_on_a_terminal_goes_through_mofa_pager(recorder, index_env):
    script, paged = recorder
    shown = run_in_terminal(*SHOW, env={**index_env, "MOFA_PAGER": str(script), "PAGER": "false"})
    assert shown.returncode == 0, shown.output
    assert "Why was I charged twice?" in paged.read_text()
    assert "Why was I charged twice?" not in shown.output


def test_pager_falls_back_to_pager_then_less_frx(recorder, tmp_path, index_env):
    script, paged = recorder
    shown = run_in_terminal(*SHOW, env={**index_env, "PAGER": str(script)})
    assert shown.returncode == 0 and "charged twice" in paged.read_text()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "less").symlink_to(script)
    env = {**index_env, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    shown = run_in_terminal(*SHOW, "-f", "markdown", env=env)
    assert shown.returncode == 0
    assert paged.with_suffix(".args").read_text().split()[1:] == ["-FRX"]
    assert "## 2. user" in paged.read_text()


@pytest.mark.parametrize(
    "how", [("--no-pager",), ("global",), ("MOFA_PAGER=cat",), ("MOFA_PAGER=",)]
)
def test_no_pager_writes_straight_to_the_terminal(recorder, how, index_env):
    script, paged = recorder
    env = {**index_env, "PAGER": str(script)}
    args = list(SHOW)
    if how == ("--no-pager",):
        args.append("--no-pager")
    elif how == ("global",):
        args.insert(0, "--no-pager")
    else:
        env["MOFA_PAGER"] = how[0].split("=", 1)[1]
    shown = run_in_terminal(*args, env=env)
    assert shown.returncode == 0
    assert "Why was I charged twice?" in shown.output
    assert not paged.exists()


def test_never_a_pager_when_stdout_is_not_a_terminal(recorder, index_env):
    script, paged = recorder
    result = run_installed(*SHOW, env={**index_env, "MOFA_PAGER": str(script)})
    assert result.returncode == 0 and "charged twice" in result.stdout
    assert not paged.exists()


def test_a_short_listing_is_not_paged_a_long_one_is(recorder, root, index_env):
    script, paged = recorder
    env = {**index_env, "MOFA_PAGER": str(script), "MOFA_SESSIONS_DIR": str(EXAMPLES)}
    short = run_in_terminal("session", "list", env=env, lines=40)
    assert "agent-001:session-123" in short.output and not paged.exists()
    tall = run_in_terminal("session", "list", env=env, lines=8)
    assert tall.returncode == 0 and "agent-001:session-123" in paged.read_text()


def test_a_pager_that_quits_early_ends_the_command_quietly(tmp_path, index_env):
    quitter = tmp_path / "quitter"
    quitter.write_text("#!/bin/sh\nhead -c 10 > /dev/null\n")
    quitter.chmod(0o755)
    shown = run_in_terminal(*SHOW, "--full", env={**index_env, "MOFA_PAGER": str(quitter)})
    assert shown.returncode == 0
    assert "Traceback" not in shown.output and "Error" not in shown.output


HIGHLIGHT = "\x1b["


def test_search_highlights_on_a_terminal_only(index_env):
    on_terminal = run_in_terminal(*SEARCH, env=index_env)
    assert HIGHLIGHT in on_terminal.output
    piped = run_installed(*SEARCH, env=index_env)
    assert HIGHLIGHT not in piped.stdout


@pytest.mark.parametrize(
    "args, env, coloured",
    [
        ((), {"NO_COLOR": "1"}, False),
        (("--color", "never"), {}, False),
        (("--color", "always"), {"NO_COLOR": "1"}, True),
        (("--color", "auto"), {}, True),
    ],
)
def test_color_option_and_no_color_on_a_terminal(args, env, coloured, index_env):
    shown = run_in_terminal(*args, *SEARCH, env={**index_env, **env})
    assert shown.returncode == 0
    assert (HIGHLIGHT in shown.output) is coloured


def test_color_always_colours_a_pipe_too(index_env):
    piped = run_installed("--color", "always", *SEARCH, env=index_env)
    assert HIGHLIGHT in piped.stdout


def test_a_bad_color_is_a_usage_error():
    result = run_installed("--color", "sometimes", "session", "list")
    assert result.returncode == 2 and "--color" in result.stderr


@pytest.fixture
def index_env(tmp_path):
    """The examples are shared: their index goes in this test's cache."""
    return {"MOFA_INDEX_PATH": str(tmp_path / "index.sqlite3"), "NO_COLOR": ""}
