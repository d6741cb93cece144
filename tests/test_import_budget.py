"""Each call pays for the modules it imports: the listing path imports no heavy module."""

import subprocess
import sys

import pytest

from tests.helpers import BIN, write_jsonl, write_session

HEAVY = ("ruamel", "tabulate", "watchdog")


def imported_modules(*args) -> set[str]:
    result = subprocess.run([sys.executable, "-X", "importtime", str(BIN / "mofa"), *args],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return {line.split("|")[-1].strip() for line in result.stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


@pytest.mark.parametrize("args", [
    ["session", "list", "--output-format", "json"],
    ["session", "list", "--agent", "a", "--limit", "1", "--output-format", "json"],
    ["session", "list"],
    ["session", "show", "a:s", "--format", "json"],
    ["session", "show", "a:s"],
])
def test_no_heavy_module_on_the_common_paths(root, args):
    write_session(root, "a", "s")
    write_jsonl(root, "b:c")
    modules = imported_modules(*args)
    assert "mofa.cli.commands" in modules  # the measurement sees our own imports
    assert not [name for name in modules if name.split(".")[0] in HEAVY]


def test_yaml_is_imported_only_for_yaml(root):
    write_session(root, "a", "s")
    assert "ruamel.yaml" in imported_modules("session", "show", "a:s", "--format", "yaml")
