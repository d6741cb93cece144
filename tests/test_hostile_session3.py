"""Hostile checks of what session 3 merged (fast exit, handshake, cold build, lazy commands)."""

from __future__ import annotations

import click
import pytest

from tests.helpers import run_installed


@pytest.mark.skipif(not hasattr(click.exceptions, "NoSuchCommand"), reason="click < 8.4 suggests nothing")
@pytest.mark.parametrize("typo, meant", [("lis", "list"), ("shwo", "show"), ("exprot", "export"),
                                         ("delte", "delete")])
def test_a_mistyped_lazy_subcommand_is_suggested(root, typo, meant):
    # list/show/export/delete are lazy (imported when they run): click suggested only among
    # the commands it holds, so a typo of one of them got no "Did you mean".
    result = run_installed("session", typo)
    assert result.returncode == 2
    assert f"No such command '{typo}'." in result.stderr
    assert f"Did you mean '{meant}'?" in result.stderr
    assert "Traceback" not in result.stderr
