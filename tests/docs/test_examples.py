"""The docs' example outputs are the code's: each documented `$ mofa ...` command of the README
and of `docs/` is run on the shipped examples and its output compared, and the README's quick
start runs as written, so the docs can never drift."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, run_installed

README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md"))]
# Shown for the shape of a pipeline or an environment-specific report, not compared.
UNCOMPARED = ("|", "$(", ">", "index status", "delete", "completion")


def documented_commands() -> list[tuple[str, str]]:
    """(command, expected output) for every `$ mofa ...` line in the docs' code blocks."""
    examples = []
    blocks = [
        block for page in PAGES for block in _plain_blocks(page.read_text("utf-8").splitlines())
    ]
    for lines in blocks:
        position = 0
        while position < len(lines):
            line = lines[position]
            position += 1
            if not line.startswith("$ mofa "):
                continue
            command = line[2:]
            while not _complete(command) and position < len(lines):
                command += "\n" + lines[position]
                position += 1
            output = []
            while position < len(lines) and not lines[position].startswith("$ "):
                output.append(lines[position])
                position += 1
            examples.append((command, "\n".join(output).rstrip("\n")))
    return examples


def _plain_blocks(lines: list[str]) -> list[list[str]]:
    """The lines of each fenced block that has no language (the docs' terminal sessions)."""
    blocks, current, fence = [], None, None
    for line in lines:
        if current is None and line.startswith("```"):
            fence, current = line, []
        elif current is not None and line == "`" * (len(fence) - len(fence.lstrip("`"))):
            if fence == "```":
                blocks.append(current)
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def _complete(command: str) -> bool:
    try:
        shlex.split(command)
    except ValueError:
        return False
    return True


COMPARED = [
    (command, output)
    for command, output in documented_commands()
    if not any(marker in command for marker in UNCOMPARED)
]


def test_the_docs_document_commands():
    assert len(COMPARED) >= 12


@pytest.mark.parametrize(
    "command, expected", COMPARED, ids=[command.split("\n")[0][:60] for command, _ in COMPARED]
)
def test_documented_output_is_real(tmp_path, command, expected):
    sessions = tmp_path / "examples" / "sessions"
    shutil.copytree(REPO / "examples" / "sessions", sessions)
    arguments = shlex.split(command)[1:]
    if "--sessions-dir" in arguments:
        where = arguments.index("--sessions-dir")
        arguments[where + 1] = str(sessions)
    env = {"MOFA_SESSIONS_DIR": str(sessions), "COLUMNS": "80", "NO_COLOR": "1"}
    assert run_installed("session", "list", env=env).returncode == 0  # a root in use: indexed
    result = run_installed(*arguments, env=env, cwd=str(tmp_path))
    # A terminal shows both streams in the order they were written: stderr's progress lines
    # first for most commands, stdout's result first for a dry run's list of ids.
    shown = [
        (first + second).replace(str(tmp_path) + os.sep, "/tmp/").rstrip("\n")
        for first, second in ((result.stderr, result.stdout), (result.stdout, result.stderr))
    ]
    assert expected in shown, f"the docs are out of date for: {command}\n{shown[0]}"


def _quick_start() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Quick start") :]
    block = section[section.index("```sh\n") + len("```sh\n") :]
    return block[: block.index("```")]


def test_the_quick_start_runs_as_written_in_a_fresh_checkout(tmp_path):
    """The quick start's commands, verbatim, in a copy of the checkout's examples beside a
    `.venv` that is the test's own environment (the first set-up command's)."""
    checkout = tmp_path / "checkout"
    shutil.copytree(REPO / "examples", checkout / "examples")
    (checkout / ".venv").symlink_to(sys.prefix)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOFA_")}
    env.update(HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "cache"))
    script = "set -euo pipefail\n" + _quick_start()
    result = subprocess.run(
        ["bash", "-c", script], cwd=checkout, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "agent-001:session-124" in result.stdout
    assert "charged twice" in result.stdout  # show
    assert "agent-002:session-125" in result.stdout  # the search for refund
    assert (Path("/tmp/mofa-export/session-123.json")).is_file()


def test_the_command_reference_is_current():
    check = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "cli_docs.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr
