"""`mofa completion bash|zsh|fish` and the completion of session ids and agents."""

import os
import subprocess

import click
import pytest
from click.shell_completion import BashComplete

from mofa.cli.commands import cli
from mofa.cli.completion import (
    SHELL_CLASSES,
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
    assert result.stdout == SHELL_CLASSES[shell](cli, {}, "mofa", "_MOFA_COMPLETE").source() + "\n"
    assert result.stderr == ""


def test_an_unknown_shell_is_a_usage_error():
    result = run("completion", "tcsh")
    assert result.exit_code == 2
    assert "'tcsh' is not one of 'bash', 'zsh', 'fish'" in result.stderr


def bash_asks(line: str, text: str | None = None):
    """What mofa answers bash's script for the command line `line` (up to the cursor), as
    (type, reply) pairs; `text` is what bash will replace (the word's end after any `:`)."""
    if text is None:
        text = line.rsplit(" ", 1)[-1]
    result = run_installed(
        env={"_MOFA_COMPLETE": "bash_complete", "_MOFA_COMP_LINE": line, "_MOFA_COMP_TEXT": text}
    )
    assert result.returncode == 0, result.stderr
    fields = result.stdout.split("\0")[:-1]
    return list(zip(fields[::2], fields[1::2], strict=True))


def test_the_shell_calls_mofa_back():
    assert bash_asks("mofa session sh") == [("plain", "show")]


def test_completion_is_listed_and_completes_itself():
    assert bash_asks("mofa comp") == [("plain", "completion")]


def test_bash_runs_the_script():
    """The script as bash loads it: Tab after `mofa session de` offers `delete`."""
    script = (
        'eval "$(mofa completion bash)"; COMP_LINE="mofa session de"; COMP_POINT=15;'
        ' _mofa_completion mofa de session; printf "%s\\n" "${COMPREPLY[@]}"'
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
    for line, expected in (
        ("mofa session show agent-0", {"agent-001:session-123", "agent-001:session-124"}),
        ("mofa session delete x sess", {"session-123", "session-124"}),
        ("mofa session list --agent ze", {"zeta"}),
    ):
        assert {reply for _, reply in bash_asks(line)} == expected


def test_completion_creates_no_index(root, index_path):
    import os

    from tests.helpers import write_session

    write_session(root, "a", "s")
    assert bash_asks("mofa session show a") == []
    assert not os.path.exists(index_path)


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_a_script_saved_by_an_older_mofa_gets_no_answer(shell, root):
    """click's own scripts insert candidates unquoted (and never close mofa's stdin): mofa
    answers them nothing, at once, without reading the terminal."""
    write_jsonl(root, "support:$(touch X)")
    assert run_installed("session", "list").returncode == 0
    reader, writer = os.pipe()  # a stdin that never ends, as a terminal would be
    try:
        result = run_installed(
            env={
                "_MOFA_COMPLETE": f"{shell}_complete",
                "COMP_WORDS": "mofa session show sup",
                "COMP_CWORD": "3" if shell != "fish" else "sup",
            },
            stdin=reader,
            timeout=60,
        )
    finally:
        os.close(reader)
        os.close(writer)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
