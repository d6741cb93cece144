"""`mofa completion bash|zsh|fish` and the completion of session ids and agents."""

import os
import subprocess

import click
import pytest
from click.shell_completion import BashComplete, get_completion_class

from mofa.cli.commands import cli
from mofa.cli.completion import (
    agent_completion,
    indexed_agents,
    indexed_session_ids,
    session_id_completion,
)
from tests.helpers import BIN, run, run_installed, write_jsonl, write_session


@pytest.mark.parametrize(
    "shell, marker",
    [
        ("bash", "complete -o nosort -F _mofa_completion mofa"),
        ("zsh", "#compdef mofa"),
        ("fish", "complete --no-files --command mofa"),
    ],
)
def test_the_script_for_each_shell(shell, marker):
    result = run_installed("completion", shell)
    assert result.returncode == 0, result.stderr
    assert marker in result.stdout
    assert f"_MOFA_COMPLETE={shell}_complete" in result.stdout
    assert (
        result.stdout
        == get_completion_class(shell)(cli, {}, "mofa", "_MOFA_COMPLETE").source() + "\n"
    )
    assert result.stderr == ""


def test_an_unknown_shell_is_a_usage_error():
    result = run("completion", "tcsh")
    assert result.exit_code == 2
    assert "'tcsh' is not one of 'bash', 'zsh', 'fish'" in result.stderr


def test_the_shell_calls_mofa_back():
    result = run_installed(
        env={"_MOFA_COMPLETE": "bash_complete", "COMP_WORDS": "mofa session sh", "COMP_CWORD": "2"}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["plain,show"]


def test_completion_is_listed_and_completes_itself():
    result = run_installed(
        env={"_MOFA_COMPLETE": "bash_complete", "COMP_WORDS": "mofa comp", "COMP_CWORD": "1"}
    )
    assert result.stdout.split() == ["plain,completion"]


def test_bash_runs_the_script():
    """The script as bash loads it: Tab after `mofa session de` offers `delete`."""
    script = (
        'eval "$(mofa completion bash)"; COMP_WORDS=(mofa session de); COMP_CWORD=2;'
        ' _mofa_completion mofa; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script],
        env=env,
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["delete"]


# -- ids and agents from the index ---------------------------------------------------------------


@pytest.fixture
def indexed(root):
    write_session(root, "agent-001", "session-123")
    write_session(root, "agent-001", "session-124")
    write_session(root, "agent-002", "a_b")
    write_session(root, "agent-002", "aXb")
    write_jsonl(root, "telegram:chat-42", metadata={"agent_id": "tg-bot"})
    assert run("session", "list").exit_code == 0  # the index, as any command leaves it
    return root


def context(root=None):
    args = [] if root is None else ["--sessions-dir", str(root)]
    return cli.make_context("mofa", args, resilient_parsing=True)


def test_session_ids_from_the_index(indexed):
    ctx = context()
    assert indexed_session_ids(ctx, "agent-001:") == [
        "agent-001:session-123",
        "agent-001:session-124",
    ]
    assert indexed_session_ids(ctx, "tele") == ["telegram:chat-42"]
    assert indexed_session_ids(ctx, "chat") == ["chat-42"]  # a short id
    assert indexed_session_ids(ctx, "a_") == ["a_b"]  # no LIKE wildcards: `_` is `_`
    assert indexed_session_ids(ctx, "Agent") == []  # ids are case-sensitive
    assert indexed_agents(ctx, "") == ["agent-001", "agent-002", "tg-bot"]
    assert indexed_agents(ctx, "tg") == ["tg-bot"]


def test_callbacks_give_completion_items(indexed):
    items = session_id_completion(indexed_session_ids)(context(), None, "session-12")
    assert [(item.value, item.type) for item in items] == [
        ("session-123", "plain"),
        ("session-124", "plain"),
    ]
    assert [item.value for item in agent_completion(indexed_agents)(context(), None, "agent")] == [
        "agent-001",
        "agent-002",
    ]


def test_a_command_wired_with_them_completes_in_the_shell(indexed):
    show = click.Command(
        "show",
        params=[
            click.Argument(
                ["session_id"], shell_complete=session_id_completion(indexed_session_ids)
            ),
            click.Option(["--agent"], shell_complete=agent_completion(indexed_agents)),
        ],
    )
    group = click.Group("mofa", params=cli.params, commands={"show": show})
    complete = BashComplete(group, {}, "mofa", "_MOFA_COMPLETE")
    assert [item.value for item in complete.get_completions(["show"], "agent-002:")] == [
        "agent-002:aXb",
        "agent-002:a_b",
    ]
    assert [item.value for item in complete.get_completions(["show", "--agent"], "tg")] == [
        "tg-bot"
    ]


def test_candidates_never_write_or_create_an_index(root, index_path):
    write_session(root, "a", "s")
    assert indexed_session_ids(context(), "") == []
    assert not os.path.exists(index_path)


def test_another_roots_index_is_not_used(indexed, tmp_path, index_path, monkeypatch):
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv("MOFA_INDEX_PATH", index_path)  # the first root's index, named for this one
    assert indexed_session_ids(context(other), "") == []
    assert indexed_session_ids(context(indexed), "agent-002:a")  # and it is a working index


def test_a_failing_source_offers_nothing():
    def broken(ctx, incomplete):
        raise OSError("disk on fire")

    assert session_id_completion(broken)(context(), None, "x") == []


def test_at_most_200_candidates(root):
    def many(ctx, incomplete):
        return [f"a:{number:04d}" for number in range(500)] + [7, None]

    items = session_id_completion(many)(context(), None, "a:")
    assert len(items) == 200 and items[0].value == "a:0000"


def test_ids_and_agents_complete_from_the_index_in_a_real_shell_request(root):
    from tests.helpers import run_installed, write_session

    write_session(root, "agent-001", "session-123")
    write_session(root, "agent-001", "session-124")
    write_session(root, "zeta", "other")
    assert run_installed("session", "list").returncode == 0  # the index knows them now
    for words, cword, expected in (
        ("mofa session show agent-0", 3, {"agent-001:session-123", "agent-001:session-124"}),
        ("mofa session delete x sess", 4, {"session-123", "session-124"}),
        ("mofa session list --agent ze", 4, {"zeta"}),
    ):
        result = run_installed(
            env={"_MOFA_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
        )
        assert result.returncode == 0, result.stderr
        offered = {line.split(",", 1)[1] for line in result.stdout.splitlines() if "," in line}
        assert offered == expected, result.stdout


def test_completion_creates_no_index(root, index_path):
    import os

    from tests.helpers import run_installed, write_session

    write_session(root, "a", "s")
    result = run_installed(
        env={
            "_MOFA_COMPLETE": "bash_complete",
            "COMP_WORDS": "mofa session show a",
            "COMP_CWORD": "3",
        }
    )
    assert result.returncode == 0 and result.stdout.strip() == ""
    assert not os.path.exists(index_path)
