"""Each call pays for the modules it imports: the listing path imports no heavy module, and the
`list`/`show` paths import nothing beyond click but the few modules they need."""

import subprocess
import sys
import time

import pytest

from indexer.refresh import RACY_NS
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

# Modules the command imports on top of `python -c "import click"`. The standard library's
# own: sqlite3 (the index), fcntl (the watcher's lock), difflib and heapq (click, when it
# matches a short option). Not locale: click's strings are not looked up in a catalog
# (mofa.cli._untranslated_click).
STDLIB_ALLOWED = {
    "sqlite3",
    "sqlite3.dbapi2",
    "_sqlite3",
    "fcntl",
    "difflib",
    "heapq",
    "_heapq",
    "zlib",
}  # zlib: the default index file's name
# The project's modules a listing of an index that is current needs (stat refresh included).
OURS_LIST = {
    "mofa",
    "mofa.cli",
    "mofa.cli.app",
    "mofa.cli.commands",
    "mofa.cli.console",
    "mofa.cli.errors",
    "mofa.cli.filters",
    "mofa.cli.lazy",
    "mofa.cli.listing",
    "mofa.cli.options",
    "mofa.errors",
    "mofa.ids",
    "mofa.paths",
    "mofa.session",
    "mofa.stores",
    "mofa.stores.base",
    "mofa.stores.files",
    "mofa.stores.rows",
    "mofa.timestamps",
    "mofa.tree",
    "indexer",
    "indexer.database",
    "indexer.freshness",
    "indexer.index",
    "indexer.location",
    "indexer.lock",
    "indexer.migrations",
    "indexer.store",
}
# What only a listing that finds something changed needs: parsing and writing rows, and the
# library's exceptions (imported where something fails).
ONLY_WHEN_CHANGED = {"indexer.refresh", "indexer.rows", "indexer.transactions", "mofa.errors"}
# With mofa-indexd answering the handshake, nothing that stats, names or parses files is
# needed, nor the library's exceptions (imported when something fails), nor the result types
# of search, verify and query: the listing path is these modules.
OURS_HANDSHAKE = {
    "mofa",
    "mofa.cli",
    "mofa.cli.app",
    "mofa.cli.commands",
    "mofa.cli.console",
    "mofa.cli.errors",
    "mofa.cli.filters",
    "mofa.cli.lazy",
    "mofa.cli.listing",
    "mofa.cli.options",
    "mofa.paths",
    "mofa.stores",
    "mofa.stores.base",
    "mofa.stores.files",
    "mofa.stores.rows",
    "mofa.timestamps",
    "indexer",
    "indexer.database",
    "indexer.handshake",
    "indexer.index",
    "indexer.location",
    "indexer.lock",
    "indexer.store",
}
NOT_ON_HANDSHAKE = {
    "indexer.refresh",
    "indexer.rows",
    "mofa.layouts",
    "mofa.tree",
    "mofa.ids",
    "mofa.session",
    "mofa.errors",
    "mofa.stores.results",
    "mofa.cli.showing",
    "mofa.cli.exporting",
    "mofa.cli.deleting",
    "indexer.migrations",
    "indexer.transactions",
}


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
    assert "mofa.cli.commands" in modules  # the measurement sees our own imports
    heavy = [
        name for name in modules if any(name == top or name.startswith(top + ".") for top in HEAVY)
    ]
    assert not heavy


@pytest.mark.parametrize(
    "args",
    [
        ["session", "list", "--limit", "10", "--output-format", "json"],
        ["session", "list", "--agent", "a", "--limit", "1", "--output-format", "json"],
    ],
)
def test_a_warm_listing_imports_only_what_it_needs(root, args):
    write_session(root, "a", "s")
    write_jsonl(root, "b:c")
    warm(root)
    extra = imported_modules(*args) - click_modules()
    ours = {name for name in extra if name.split(".")[0] in ("mofa", "indexer")}
    assert ours <= OURS_LIST, sorted(ours - OURS_LIST)
    assert "indexer.handshake" not in ours  # no watcher runs: nothing to ask
    assert "indexer.freshness" in ours  # it did look for changes
    assert extra - ours <= STDLIB_ALLOWED, sorted(extra - ours - STDLIB_ALLOWED)


@pytest.mark.parametrize(
    "args",
    [
        ["session", "list", "--limit", "10", "--output-format", "json"],
        ["session", "list", "--agent", "a", "--limit", "1", "--output-format", "json"],
    ],
)
def test_a_listing_that_finds_a_change_refreshes_it(root, args):
    write_session(root, "a", "s")
    write_jsonl(root, "b:c")
    warm(root)
    write_session(root, "a", "t")
    extra = imported_modules(*args) - click_modules()
    assert ONLY_WHEN_CHANGED - {"mofa.errors"} <= extra
    assert sorted(listed_ids(run_installed("session", "list", "--output-format", "json"))) == [
        "a:s",
        "a:t",
        "b:c",
    ]


def test_a_table_listing_adds_only_the_renderer_and_the_pager(root):
    write_session(root, "a", "s")
    warm(root)
    extra = imported_modules("session", "list") - click_modules()
    assert extra - OURS_LIST - STDLIB_ALLOWED <= {"mofa.render", "mofa.cli.terminal", "unicodedata"}


@pytest.mark.parametrize(
    "args",
    [
        ["session", "list", "--limit", "10", "--output-format", "json"],
        ["session", "list", "--agent", "a", "--limit", "10", "--output-format", "json"],
    ],
)
def test_the_handshake_path_neither_stats_nor_parses(root, index_path, args):
    write_session(root, "a", "s")
    daemon = RunningDaemon(root, index_path)
    try:
        daemon.wait_for_log("watching")
        modules = imported_modules(*args)
        assert "indexer.handshake" in modules and "mofa.cli.listing" in modules
        assert not modules & NOT_ON_HANDSHAKE, sorted(modules & NOT_ON_HANDSHAKE)
        extra = modules - click_modules()
        ours = {name for name in extra if name.split(".")[0] in ("mofa", "indexer")}
        assert ours <= OURS_HANDSHAKE, sorted(ours - OURS_HANDSHAKE)
        assert extra - ours <= STDLIB_ALLOWED, sorted(extra - ours - STDLIB_ALLOWED)
    finally:
        daemon.stop()


def test_show_of_a_per_agent_session_opens_no_index(root):
    """Nor imports SQLite: a per-agent session is found by its path."""
    write_session(root, "a", "s")
    warm(root)
    modules = imported_modules("session", "show", "a:s", "--format", "json")
    assert "mofa.cli.showing" in modules
    assert not modules & {
        "sqlite3",
        "indexer.database",
        "indexer.index",
        "mofa.cli.listing",
        "mofa.stores.results",
    }


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


def test_a_query_with_the_watcher_imports_no_exceptions_and_no_other_result_types(root, index_path):
    write_session(root, "a", "s")
    daemon = RunningDaemon(root, index_path)
    try:
        daemon.wait_for_log("watching")
        modules = imported_modules(
            "session",
            "query",
            "SELECT agent, count(*) AS n FROM sessions GROUP BY agent",
            "--output-format",
            "json",
        )
        assert "indexer.handshake" in modules and "mofa.stores.queries" in modules
        unwanted = NOT_ON_HANDSHAKE | {"json", "mofa.render", "mofa.cli.index_commands"}
        assert not modules & unwanted, sorted(modules & unwanted)
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
        "indexer.rows": ("StatKey", "IndexRow", "BadRow"),
        "indexer.refresh": ("Parsed", "Plan"),
        "indexer.freshness": ("RefreshResult", "Survey"),
        "indexer.lock": ("WatcherRecord",),
        "indexer.index": ("JsonlMatch",),
        "mofa.tree": ("FileStat", "RootListing", "DirScan"),
        "mofa.session": ("SessionSummary",),
        "mofa.ids": ("SessionId",),
        "indexer.handshake": ("Cookie",),
    }.items():
        loaded = importlib.import_module(module)
        for name in names:
            row_type = getattr(loaded, name)
            assert row_type._fields, name
            strings = [
                field for field, hint in row_type.__annotations__.items() if isinstance(hint, str)
            ]
            assert not strings, f"{module}.{name}: string annotations {strings}"


def test_clicks_own_strings_stay_english_without_a_catalog_lookup(root):
    """click's strings are not looked up in a gettext catalog (~1.2 ms and `locale` per
    command): they read as click writes them, whatever the language asked for."""
    env = {"LANGUAGE": "de", "LANG": "de_DE.UTF-8"}
    shown = run_installed("session", "list", "--help", env=env)
    assert shown.returncode == 0 and "Show this message and exit." in shown.stdout
    refused = run_installed("session", "list", "--bogus", env=env)
    assert refused.returncode == 2 and "No such option '--bogus'" in refused.stderr
    write_session(root, "a", "s")
    warm(root)
    assert "locale" not in imported_modules("session", "list", "--output-format", "json", env=env)
