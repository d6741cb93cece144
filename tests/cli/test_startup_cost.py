"""Each call pays for the modules it imports: the common paths import no heavy module, and a
listing costs a bounded multiple of `python -c "import click"`, measured in the same run."""

import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from indexer.build.refresh import RACY_NS
from tests.daemon_helpers import RunningDaemon
from tests.helpers import BIN, listed_ids, run_installed, write_jsonl, write_session

HEAVY = (
    "ruamel",
    "tabulate",
    "watchdog",
    "orjson",
    "multiprocessing",
    "concurrent",
    "asyncio",
    "importlib.metadata",
    "email",
    "zipfile",
    "logging",
    "argparse",
)

# What a listing may cost, in instructions, as a multiple of `python -c "import click"` (the
# interpreter's start and click's import) measured in the same run, both from bytecode as an
# installed copy runs. A warm listing costs about 1.1 times that; ruamel.yaml alone would add
# 0.25, watchdog 0.45.
LISTING_BUDGET = 1.25


@pytest.fixture(scope="module")
def bytecode(tmp_path_factory) -> dict:
    """What a measured command's environment adds: its modules' bytecode in a cache of its own
    (written by a first, unmeasured run), whatever PYTHONDONTWRITEBYTECODE says, so that no
    measurement pays for compiling source."""
    if shutil.which("valgrind") is None:
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail("no valgrind to measure the start-up budget in CI", pytrace=False)
        pytest.skip("no valgrind to measure the start-up budget")
    return {"PYTHONPYCACHEPREFIX": str(tmp_path_factory.mktemp("bytecode")), "PYTHONHASHSEED": "0"}


def instructions(argv: list[str], env: dict) -> int:
    """The instructions `argv` runs once its bytecode is cached, counted by valgrind's
    callgrind (the same on every run of the same work, where a time is not)."""
    env = {**os.environ, **env}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run(argv, capture_output=True, timeout=120, env=env)
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return int(re.search(r"Collected : (\d+)", result.stderr)[1])


@pytest.fixture(scope="module")
def click_floor(bytecode) -> int:
    return instructions([sys.executable, "-c", "import click"], bytecode)


def imported_modules(*args, env=None) -> set[str]:
    import os

    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(BIN / "mofa"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stderr
    return {
        line.split("|")[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def warm(root) -> None:
    """Build the index with files older than the racy window, so that the next command finds
    it current (a file changed within ~100 ms of a scan is read again by the next one)."""
    time.sleep(RACY_NS / 1e9 * 2)
    run_installed("session", "list")


def click_modules() -> set[str]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import click"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return {
        line.split("|")[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


@pytest.mark.parametrize(
    "args",
    [
        ["session", "list", "--output-format", "json"],
        ["session", "list", "--agent", "a", "--limit", "1", "--output-format", "json"],
        ["session", "list"],
        ["session", "show", "a:s", "--format", "json"],
        ["session", "show", "a:s"],
    ],
)
def test_no_heavy_module_on_the_common_paths(root, args):
    write_session(root, "a", "s")
    write_jsonl(root, "b:c")
    warm(root)  # what follows is a warm command
    modules = imported_modules(*args)
    assert "click" in modules  # the measurement sees the imports
    heavy = [
        name for name in modules if any(name == top or name.startswith(top + ".") for top in HEAVY)
    ]
    assert not heavy


@pytest.mark.parametrize(
    "args",
    [
        ["session", "list", "--limit", "10", "--output-format", "json"],
        ["session", "list"],
    ],
)
def test_a_warm_listing_stays_within_its_start_up_budget(root, bytecode, click_floor, args):
    write_session(root, "a", "s")
    write_jsonl(root, "b:c")
    warm(root)
    cost = instructions([str(BIN / "mofa"), *args], bytecode) / click_floor
    assert cost <= LISTING_BUDGET, f"{cost:.2f} times `import click`"


def test_a_listing_that_finds_a_change_refreshes_it(root):
    write_session(root, "a", "s")
    write_jsonl(root, "b:c")
    warm(root)
    write_session(root, "a", "t")
    listing = run_installed("session", "list", "--output-format", "json")
    assert sorted(listed_ids(listing)) == ["a:s", "a:t", "b:c"]


def test_a_listing_the_watcher_answers_stays_within_its_start_up_budget(
    root, index_path, bytecode, click_floor
):
    write_session(root, "a", "s")
    daemon = RunningDaemon(root, index_path)
    try:
        daemon.wait_for_log("watching")
        argv = [str(BIN / "mofa"), "-v", "session", "list", "--output-format", "json"]
        assert "confirmed the index" in subprocess.run(argv, capture_output=True, text=True).stderr
        cost = instructions(argv, bytecode) / click_floor
        assert cost <= LISTING_BUDGET, f"{cost:.2f} times `import click`"
    finally:
        daemon.stop()


def test_show_of_a_per_agent_session_opens_no_index(root):
    """Nor imports SQLite: a per-agent session is found by its path."""
    write_session(root, "a", "s")
    warm(root)
    assert "sqlite3" not in imported_modules("session", "show", "a:s", "--format", "json")


def test_query_as_json_imports_neither_json_nor_the_table_renderer(root):
    write_session(root, "a", "s")
    warm(root)
    modules = imported_modules(
        "session",
        "query",
        "SELECT agent, count(*) AS n FROM sessions GROUP BY agent",
        "--output-format",
        "json",
    )
    assert "mofa.cli.query_output" in modules
    unwanted = {
        "json",
        "mofa.render",
        "unicodedata",
        "mofa.cli.index_commands",
        "mofa.stores.results",
    }
    assert not modules & unwanted, sorted(modules & unwanted)


def test_a_query_the_watcher_answers_stays_within_its_start_up_budget(
    root, index_path, bytecode, click_floor
):
    write_session(root, "a", "s")
    daemon = RunningDaemon(root, index_path)
    try:
        daemon.wait_for_log("watching")
        query = "SELECT agent, count(*) AS n FROM sessions GROUP BY agent"
        argv = [str(BIN / "mofa"), "-v", "session", "query", query, "--output-format", "json"]
        assert "confirmed the index" in subprocess.run(argv, capture_output=True, text=True).stderr
        cost = instructions(argv, bytecode) / click_floor
        assert cost <= LISTING_BUDGET, f"{cost:.2f} times `import click`"
    finally:
        daemon.stop()


def test_yaml_is_imported_only_for_yaml(root):
    write_session(root, "a", "s")
    assert "ruamel.yaml" in imported_modules("session", "show", "a:s", "--format", "yaml")


def test_the_row_types_on_the_listing_path_are_built_from_evaluated_annotations():
    """A NamedTuple compiles each string annotation (`from __future__ import annotations`) into
    a ForwardRef: twice the cost of the class, on every command's start-up. The
    modules defining the listing path's rows do without that import."""
    import importlib

    for module, names in {
        "mofa.stores.rows": ("SessionFilter", "SessionRow", "SessionRef"),
        "indexer.index.rows": ("StatKey", "IndexRow", "BadRow"),
        "indexer.build.refresh": ("Parsed", "Plan"),
        "indexer.build.freshness": ("RefreshResult", "Survey"),
        "indexer.watch.lock": ("WatcherRecord",),
        "indexer.index.session_index": ("JsonlMatch",),
        "mofa.tree": ("FileStat", "RootListing", "DirScan"),
        "mofa.session": ("SessionSummary",),
        "mofa.ids": ("SessionId",),
        "indexer.watch.handshake": ("Cookie",),
    }.items():
        loaded = importlib.import_module(module)
        for name in names:
            row_type = getattr(loaded, name)
            assert row_type._fields, name
            strings = [
                field for field, hint in row_type.__annotations__.items() if isinstance(hint, str)
            ]
            assert not strings, f"{module}.{name}: string annotations {strings}"


def test_clicks_own_strings_read_as_click_writes_them(root):
    """click ships no translations: its strings (the help option, usage errors) are English
    whatever the language asked for."""
    env = {"LANGUAGE": "de", "LANG": "de_DE.UTF-8"}
    shown = run_installed("session", "list", "--help", env=env)
    assert shown.returncode == 0 and "Show this message and exit." in shown.stdout
    refused = run_installed("session", "list", "--bogus", env=env)
    assert refused.returncode == 2 and "No such option '--bogus'" in refused.stderr
