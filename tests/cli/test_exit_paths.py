"""How a command ends: a mistyped subcommand suggested, and its exit status kept whatever
happened to stderr and stdout."""

from __future__ import annotations

import os
import subprocess

import click
import pytest

from tests.helpers import BIN, run_installed, write_session


@pytest.mark.skipif(
    not hasattr(click.exceptions, "NoSuchCommand"), reason="click < 8.4 suggests nothing"
)
@pytest.mark.parametrize(
    "typo, meant", [("lis", "list"), ("shwo", "show"), ("exprot", "export"), ("delte", "delete")]
)
def test_a_mistyped_lazy_subcommand_is_suggested(root, typo, meant):
    # list/show/export/delete are lazy (imported when they run): click suggested only among
    # the commands it holds, so a typo of one of them got no "Did you mean".
    result = run_installed("session", typo)
    assert result.returncode == 2
    assert f"No such command '{typo}'." in result.stderr
    assert f"Did you mean '{meant}'?" in result.stderr
    assert "Traceback" not in result.stderr


def _closed_stderr():
    os.close(2)


@pytest.mark.parametrize(
    "args, status", [(("session", "list"), 0), (("session", "show", "nosuch"), 1)]
)
def test_a_command_started_with_stderr_closed_keeps_its_exit_status(root, args, status):
    # Python starts with sys.stderr None when fd 2 is closed (`2>&-`): the progress line failed
    # the command (exit 3) and the fast exit's flush of None ended it with status 1.
    write_session(root, "agent-1", "s1")
    result = subprocess.run(
        [str(BIN / "mofa"), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_closed_stderr,
        timeout=120,
    )
    assert result.returncode == status


def test_stdout_full_and_stderr_closed_is_a_failure_not_status_1(root):
    write_session(root, "agent-1", "s1")
    with open("/dev/full", "wb") as full:
        result = subprocess.run(
            [str(BIN / "mofa"), "session", "list"],
            stdout=full,
            stderr=subprocess.DEVNULL,
            preexec_fn=_closed_stderr,
            timeout=120,
        )
    assert result.returncode == 3
