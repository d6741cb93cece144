"""The README's example outputs are the code's: each documented `$ mofa ...` command is run on
the shipped examples and its output compared, so the README can never drift."""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

import pytest

from tests.helpers import run_installed

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
# Shown for the shape of a pipeline or an environment-specific report, not compared.
UNCOMPARED = ("|", "$(", ">", "index status", "delete", "completion")


def documented_commands() -> list[tuple[str, str]]:
    """(command, expected output) for every `$ mofa ...` line in the README's code blocks."""
    examples = []
    for lines in _plain_blocks(README.read_text(encoding="utf-8").splitlines()):
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
    """The lines of each fenced block that has no language (the README's terminal sessions)."""
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


def test_the_readme_documents_commands():
    assert len(COMPARED) >= 6


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
    assert expected in shown, f"README is out of date for: {command}\n{shown[0]}"
