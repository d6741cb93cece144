#!/usr/bin/env python3
"""Benchmark mofa-session on a generated tree against floors measured in the same run.

    python scripts/bench.py                      # 100,000 realistic sessions over 200 agents
    python scripts/bench.py -n 20000 --runs 3    # smaller, quicker
    python scripts/bench.py --also-sessions 1000000   # and the watcher at 1,000,000 sessions
    python scripts/bench.py --only queries,export     # some sections only (or --skip)
    python scripts/bench.py --write-table docs/performance.md   # and put the table there

What is measured is what a user gets: every command runs from a regular (not editable)
install of this checkout into a venv the benchmark keeps beside its data (`<data>/venv`),
reinstalled from the checkout on every run, so that the modules are compiled to bytecode at
install time as pip does for a user, and no editable-install import hook runs at start-up;
the floors run on the same venv's interpreter. Every timing is the median of several runs,
the commands interleaved so that a noisy neighbour hurts them all alike. Results are printed
as a Markdown table of ratios against the targets, and saved (JSON and Markdown) beside the
data. The search queries' floors need ripgrep (`rg`).

Sections: cold (the cold build against a naive scan), listing (list, show and query with and
without mofa-indexd, auto-start, the watcher's latency and memory), search-build (the first
search without the watcher against scripts/search_floor.py, and the index's size with search
data), queries (searches with mofa-indexd against click and rg), import (10,000 sessions with
and without mofa-indexd), export (1,000 sessions against cp -r), also (--also-sessions).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from typing import NamedTuple

from bench_bulk_export import CP, export_medians
from bench_import import LABELS as IMPORT_LABELS
from bench_import import import_times
from benchlib import (
    CHECKOUT,
    HERE,
    Tools,
    TreeSpec,
    bench_env,
    cpu_seconds,
    generate_tree,
    installed_tools,
    medians,
    peak_rss_kb,
    proc_field,
    read_tree,
    remove_index,
    start_watcher,
    stop_started,
    stop_watcher,
    timed,
    tree_bytes,
    use_venv,
    wait_while_building,
    watcher_answering,
)

TABLE_START = "<!-- bench.py: start -->"
TABLE_END = "<!-- bench.py: end -->"
SECTIONS = ("cold", "listing", "search-build", "queries", "import", "export", "also")
FIND_FORMAT = "%T@ %s %i\n"
CLICK = "python -c 'import click'"
TABULATE = "python -c 'import click, tabulate'"


class Row(NamedTuple):
    """One line of the table: ours against a floor (`limit`: the ratio's target), or a figure
    alone (floor None: `limit` is the figure's own target)."""

    name: str
    ours: float
    floor: float | None
    floor_name: str
    limit: float | None
    unit: str = "ms"  # ms (ours and floor in seconds), MB (in bytes or kB: see scale)
    scale: float = 1000.0
    at_least: bool = False  # the target is a least ratio (ours ÷ floor ≥ limit)


class Bench(NamedTuple):
    """One tree and its index, and how to run commands on it."""

    args: argparse.Namespace
    tools: Tools
    root: str
    tree: dict
    index: str
    env: dict

    def mofa(self, *words: str) -> list[str]:
        return [*self.tools.mofa, *words]


def listing(bench: Bench, *options: str) -> list[str]:
    return bench.mofa("session", "list", *options, "--limit", "10", "--output-format", "json")


def search(bench: Bench, query: str) -> list[str]:
    return bench.mofa("session", "search", query, "--output-format", "json")


QUERY = "SELECT agent, count(*) AS sessions FROM sessions GROUP BY agent"


def query_command(bench: Bench) -> list[str]:
    return bench.mofa("session", "query", QUERY, "--output-format", "json")


def show_command(bench: Bench) -> list[str]:
    return bench.mofa("session", "show", f"{bench.tree['largest']}:session-000000", "-f", "json")


def naive_command(bench: Bench) -> list[str]:
    return [bench.tools.python, os.path.join(HERE, "naive_list.py"), bench.root, "--limit", "10"]


def build_index(bench: Bench) -> None:
    subprocess.run(listing(bench), env=bench.env, stdout=subprocess.DEVNULL, check=True)


def open_bench(args, tools: Tools, spec: TreeSpec, index_name: str) -> Bench:
    root, tree = generate_tree(tools.python, args.data, spec, args.jobs)
    index = os.path.join(args.data, index_name)
    stop_watcher(index)
    return Bench(args, tools, root, tree, index, bench_env(args.data, root, index))


def alternating(bench: Bench, first, second, runs: int) -> tuple[float, float]:
    """Median seconds of two functions of no argument, the tree read before each pair (both
    meet a warm page cache: see read_tree), neither always first."""
    times: tuple[list, list] = ([], [])
    for run in range(runs):
        read_tree(bench.root)
        for which in (0, 1) if run % 2 == 0 else (1, 0):
            times[which].append((first, second)[which]())
    return statistics.median(times[0]), statistics.median(times[1])


# -- cold build ---------------------------------------------------------------------------------


def measure_cold(bench: Bench, runs: int) -> dict:
    print("cold index build against the naive parse-everything scan ...", file=sys.stderr)

    def cold() -> float:
        remove_index(bench.index)
        return timed(listing(bench), bench.env)

    cold_build, naive = alternating(
        bench, cold, lambda: timed(naive_command(bench), bench.env), runs
    )
    return {"cold_build": cold_build, "naive": naive}


def cold_rows(r: dict, suffix: str = "") -> list[Row]:
    return [Row(f"cold index build{suffix}", r["cold_build"], r["naive"], "naive scan", 0.8)]


# -- listing, show, query -----------------------------------------------------------------------


def measure_warm(bench: Bench) -> dict:
    print("warm commands without the watcher ...", file=sys.stderr)
    root, largest, smallest = bench.root, bench.tree["largest"], bench.tree["smallest"]
    python = bench.tools.python
    # tabulate (the bench extra) is in the bench venv; an --installed run may not have it.
    tabulate = subprocess.run([python, "-c", "import tabulate"], capture_output=True)
    floors = {TABULATE: [python, "-c", "import click, tabulate"]} if not tabulate.returncode else {}
    results = medians(
        {
            "python -c pass": [python, "-c", "pass"],
            CLICK: [python, "-c", "import click"],
            **floors,
            # Floors that stat every file, as a command without the watcher must.
            "find tree": ["find", root, "-printf", FIND_FORMAT],
            "find largest agent": ["find", os.path.join(root, largest), "-printf", FIND_FORMAT],
            "find smallest agent": ["find", os.path.join(root, smallest), "-printf", FIND_FORMAT],
            "list --agent largest (json)": listing(bench, "--agent", largest),
            "list --agent smallest (json)": listing(bench, "--agent", smallest),
            "list --agent smallest (table)": bench.mofa(
                "session", "list", "--agent", smallest, "--limit", "10"
            ),
            "list --limit 10 (all agents)": listing(bench),
            "show": show_command(bench),
            "query (group by agent)": query_command(bench),
        },
        bench.env,
        bench.args.runs,
    )
    results["peak_rss_list_all_json_kb"] = peak_rss_kb(
        bench.mofa("session", "list", "--output-format", "json"), bench.env
    )
    return results


def measure_autostart(bench: Bench) -> dict:
    print(
        "auto-start: the first list starts mofa-indexd, the next ones take its handshake ...",
        file=sys.stderr,
    )
    auto_env = dict(bench.env, MOFA_AUTOSTART="1")
    from indexer.store import AUTOSTART_MIN_FILES

    if bench.tree["sessions"] < AUTOSTART_MIN_FILES:  # a small tree: start it all the same
        auto_env["MOFA_AUTOSTART_MIN_FILES"] = "1"
    try:
        results = {"auto first list": timed(listing(bench), auto_env)}
        started = time.monotonic()
        while not watcher_answering(bench.index):
            if time.monotonic() - started > 120:
                raise RuntimeError("the auto-started mofa-indexd never answered")
            time.sleep(0.05)
        results["auto watcher ready_s"] = time.monotonic() - started
        wait_while_building(bench.tools.mofa, auto_env)
        commands = {
            CLICK: [bench.tools.python, "-c", "import click"],
            "list --limit 10 (all agents)": listing(bench),
        }
        found = medians(commands, auto_env, bench.args.runs)
        results.update({f"{name} [auto]": value for name, value in found.items()})
    finally:
        stop_watcher(bench.index)
    return results


def watcher_latency(root: str, index: str, writes: int) -> list[float]:
    """Seconds from a session file's write to its row in the index, for `writes` new files."""
    directory = os.path.join(root, "bench-latency")
    os.makedirs(directory, exist_ok=True)
    conn = sqlite3.connect(f"file:{index}?mode=ro", uri=True)
    latencies = []
    try:
        for number in range(writes):
            path = os.path.join(directory, f"s{number:05d}.json")
            session_id = f"bench-latency:s{number:05d}"
            started = time.perf_counter()
            with open(path, "w") as handle:
                handle.write('{"created_at": "2024-02-28T10:30:00Z", "messages": []}')
            while (
                conn.execute(
                    "SELECT 1 FROM sessions WHERE session_id = ?", (session_id,)
                ).fetchone()
                is None
            ):
                if time.perf_counter() - started > 10:
                    raise RuntimeError(f"{session_id} never reached the index")
                time.sleep(0.0002)
            latencies.append(time.perf_counter() - started)
    finally:
        conn.close()
        shutil.rmtree(directory)
    return latencies


def measure_watched(bench: Bench) -> dict:
    print("with mofa-indexd ...", file=sys.stderr)
    args = bench.args
    watcher = start_watcher(bench.tools.indexd, bench.root, bench.index, bench.env)
    try:
        build_index(bench)
        wait_while_building(bench.tools.mofa, bench.env)
        commands = {
            CLICK: [bench.tools.python, "-c", "import click"],
            "list --limit 10 (all agents)": listing(bench),
            "list --agent largest (json)": listing(bench, "--agent", bench.tree["largest"]),
            "show": show_command(bench),
            "query (group by agent)": query_command(bench),
        }
        found = medians(commands, bench.env, args.runs)
        results = {f"{name} [mofa-indexd]": value for name, value in found.items()}
        results["indexd_rss_kb"] = proc_field(watcher.pid, "VmRSS")
        before = cpu_seconds(watcher.pid)
        time.sleep(args.idle_seconds)
        results["indexd_idle_cpu_percent"] = (
            100 * (cpu_seconds(watcher.pid) - before) / args.idle_seconds
        )
        if args.latency_writes:
            latencies = sorted(watcher_latency(bench.root, bench.index, args.latency_writes))
            results["latency_median_ms"] = 1000 * statistics.median(latencies)
            results["latency_p99_ms"] = 1000 * latencies[int(0.99 * (len(latencies) - 1))]
        results["indexd_peak_rss_kb"] = proc_field(watcher.pid, "VmHWM")
    finally:
        stop_started(watcher)
    return results


def measure_listing(bench: Bench) -> dict:
    if not os.path.exists(bench.index):
        build_index(bench)  # an index to be warm with
    return {**measure_warm(bench), **measure_autostart(bench), **measure_watched(bench)}


def listing_rows(r: dict) -> list[Row]:
    click, watch_click = r[CLICK], r[f"{CLICK} [mofa-indexd]"]
    find_tree = click + r["find tree"]
    return [
        Row(
            "list --limit 10, all agents, mofa-indexd",
            r["list --limit 10 (all agents) [mofa-indexd]"],
            watch_click,
            "click",
            1.15,
        ),
        Row(
            "list --agent largest --limit 10, mofa-indexd",
            r["list --agent largest (json) [mofa-indexd]"],
            watch_click,
            "click",
            1.15,
        ),
        Row(
            "query group by agent, mofa-indexd",
            r["query (group by agent) [mofa-indexd]"],
            watch_click,
            "click",
            1.3,
        ),
        Row("show one session, mofa-indexd", r["show [mofa-indexd]"], watch_click, "click", 1.3),
        Row(
            "auto-start: list --limit 10 after the first",
            r["list --limit 10 (all agents) [auto]"],
            r[f"{CLICK} [auto]"],
            "click",
            1.15,
        ),
        Row(
            "list --agent largest --limit 10, no watcher",
            r["list --agent largest (json)"],
            click + r["find largest agent"],
            "click + find -printf largest agent",
            1.3,
        ),
        Row(
            "list --limit 10, all agents, no watcher",
            r["list --limit 10 (all agents)"],
            find_tree,
            "click + find -printf tree",
            1.5,
        ),
        Row(
            "list --agent smallest --limit 10 (json), no watcher",
            r["list --agent smallest (json)"],
            click,
            "click",
            1.3,
        ),
        Row(
            "list --agent smallest --limit 10 (table), no watcher",
            r["list --agent smallest (table)"],
            r.get(TABULATE, click),
            "click+tabulate" if TABULATE in r else "click",
            1.3,
        ),
        Row("show one session, no watcher", r["show"], click, "click", 1.3),
        Row(
            "query group by agent, no watcher",
            r["query (group by agent)"],
            find_tree,
            "click + find -printf tree",
            None,
        ),
        Row(
            "peak memory, list --output-format json of all sessions",
            r["peak_rss_list_all_json_kb"],
            None,
            "",
            80,
            "MB",
            1 / 1024,
        ),
        Row(
            "mofa-indexd memory watching all sessions (peak)",
            r["indexd_peak_rss_kb"],
            None,
            "",
            150,
            "MB",
            1 / 1024,
        ),
    ]


def listing_notes(r: dict, bench: Bench) -> list[str]:
    click, tabulate = r[CLICK], r.get(TABULATE)
    with_tabulate = (
        f" import click+tabulate {tabulate * 1000:.0f} ms"
        f" (tabulate: +{(tabulate - click) * 1000:.0f} ms),"
        if tabulate is not None
        else ""
    )
    notes = [
        f"Floors: python -c pass {r['python -c pass'] * 1000:.0f} ms,"
        f" import click {click * 1000:.0f} ms,{with_tabulate}"
        f" find -printf tree {r['find tree'] * 1000:.0f} ms,"
        f" largest agent {r['find largest agent'] * 1000:.0f} ms,"
        f" smallest agent {r['find smallest agent'] * 1000:.0f} ms.",
        f"Auto-start: the first list took {r['auto first list'] * 1000:.0f} ms"
        " and started mofa-indexd,"
        f" which answered {r['auto watcher ready_s']:.1f} s later.",
    ]
    if "latency_median_ms" in r:
        notes.append(
            f"mofa-indexd: write→row latency median {r['latency_median_ms']:.1f} ms, p99"
            f" {r['latency_p99_ms']:.1f} ms over {bench.args.latency_writes} writes; idle CPU"
            f" {r['indexd_idle_cpu_percent']:.2f} % over {bench.args.idle_seconds:.0f} s;"
            f" RSS {r['indexd_rss_kb'] / 1024:.0f} MB"
            f" (peak {r['indexd_peak_rss_kb'] / 1024:.0f} MB)."
        )
    return notes


# -- search ------------------------------------------------------------------------------------


def pick_words(bench: Bench) -> dict:
    """Words of the tree by how many messages hold them (scripts/search_words.py)."""
    script = os.path.join(HERE, "search_words.py")
    done = subprocess.run(
        [bench.tools.python, script, bench.root], check=True, capture_output=True, text=True
    )
    words = json.loads(done.stdout)
    print(
        f"search words: rare {words['rare']!r}, mid {words['mid']!r}, common {words['common']!r}",
        file=sys.stderr,
    )
    return words


INDEX_BESIDE = (".lock", ".indexd", ".indexd.log", ".bench-indexd.log")  # not index data


def index_bytes(index: str) -> int:
    """The bytes of the index's files (the database, its -wal and -shm, and any other file of
    its name that holds data), its WAL checkpointed first."""
    conn = sqlite3.connect(index)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    directory, base = os.path.split(index)
    return sum(
        os.path.getsize(os.path.join(directory, name))
        for name in os.listdir(directory)
        if name.startswith(base) and not name.endswith(INDEX_BESIDE)
    )


def measure_search_build(bench: Bench, word: str, runs: int) -> dict:
    """The first search without the watcher, on an index that has no search data (a copy of
    one just built by a listing), against scripts/search_floor.py; then the index's size."""
    print(f"first search ({word!r}) against search_floor.py ...", file=sys.stderr)
    pristine = os.path.join(bench.args.data, "pristine-search-build.sqlite3")
    remove_index(bench.index)
    build_index(bench)
    index_bytes(bench.index)  # one file: the copy is a whole index
    shutil.copy2(bench.index, pristine)
    floor_db = os.path.join(bench.args.data, "search-floor.sqlite3")

    def first_search() -> float:
        remove_index(bench.index)
        shutil.copy2(pristine, bench.index)
        return timed(search(bench, word), bench.env)

    def floor() -> float:
        remove_index(floor_db)
        script = os.path.join(HERE, "search_floor.py")
        return timed([bench.tools.python, script, bench.root, floor_db], bench.env)

    try:
        ours, floor_time = alternating(bench, first_search, floor, runs)
        return {
            "first search": ours,
            "search floor": floor_time,
            "index_bytes": index_bytes(bench.index),
            "floor_bytes": os.path.getsize(floor_db),
            "sessions_bytes": tree_bytes(bench.root),
        }
    finally:
        remove_index(floor_db)
        os.unlink(pristine)


def search_build_rows(r: dict) -> list[Row]:
    return [
        Row(
            "index size with search data ÷ sessions' bytes",
            r["index_bytes"],
            r["sessions_bytes"],
            "sessions' bytes",
            0.6,
            "MB",
            1e-6,
        ),
        Row(
            "first search, no watcher (builds the search data)",
            r["first search"],
            r["search floor"],
            "search_floor.py",
            1.0,
        ),
    ]


class SearchQuery(NamedTuple):
    label: str
    query: str
    rg: list[str]  # ripgrep's arguments (before the root): the files that hold it
    rg_name: str
    click_limit: float


def search_queries(words: dict) -> list[SearchQuery]:
    """The queries and their rg floors: a word is `rg -l -F -w WORD`; a phrase, rg -F of it;
    a prefix, the word regex it stands for; `a OR b`, `a b` and `a -b`, one pass for either
    word (what any answer must read)."""
    rare, mid, common = words["rare"], words["mid"], words["common"]
    prefix = common[:3]
    either = ["-l", "-F", "-w", "-e", mid, "-e", common]
    return [
        SearchQuery("rare word", rare, ["-l", "-F", "-w", rare], f"rg -F -w {rare}", 3),
        SearchQuery("mid word", mid, ["-l", "-F", "-w", mid], f"rg -F -w {mid}", 3),
        SearchQuery("common word", common, ["-l", "-F", "-w", common], f"rg -F -w {common}", 3),
        SearchQuery("the", "the", ["-l", "-F", "-w", "the"], "rg -F -w the", 6),
        SearchQuery('"of the"', '"of the"', ["-l", "-F", "-w", "of the"], 'rg -F "of the"', 6),
        SearchQuery(
            "prefix", f"{prefix}*", ["-l", "-w", f"{prefix}\\w*"], f"rg -w '{prefix}\\w*'", 3
        ),
        SearchQuery("two words", f"{mid} {common}", either, f"rg -e {mid} -e {common}", 3),
        SearchQuery("a OR b", f"{mid} OR {common}", either, f"rg -e {mid} -e {common}", 3),
        SearchQuery("a -b", f"{common} -{mid}", either, f"rg -e {common} -e {mid}", 3),
    ]


def need_ripgrep() -> str:
    rg = shutil.which("rg")
    if rg is None:
        sys.exit(
            "bench.py: the search queries' floors need ripgrep (rg): install it"
            " (apt-get install ripgrep), or leave them out with --skip queries"
        )
    return rg


def wait_for_search_data(bench: Bench, word: str) -> float:
    """Seconds until the search data is built, with mofa-indexd running: a first search (it
    builds the search data, or waits for the watcher's build), then until `index status` says
    the watcher has nothing more to read."""
    started = time.perf_counter()
    timed(search(bench, word), bench.env)
    wait_while_building(bench.tools.mofa, bench.env)
    return time.perf_counter() - started


def measure_queries(bench: Bench, words: dict) -> dict:
    rg = need_ripgrep()
    print("searches with mofa-indexd against click and rg ...", file=sys.stderr)
    watcher = start_watcher(bench.tools.indexd, bench.root, bench.index, bench.env)
    try:
        results = {"first search [mofa-indexd]": wait_for_search_data(bench, words["rare"])}
        commands: dict = {CLICK: [bench.tools.python, "-c", "import click"]}
        for item in search_queries(words):
            commands[f"search {item.query}"] = search(bench, item.query)
            commands[item.rg_name] = [rg, *item.rg, bench.root]
        results.update(medians(commands, bench.env, bench.args.runs))
        results["indexd_peak_rss_kb"] = proc_field(watcher.pid, "VmHWM")
    finally:
        stop_started(watcher)
    return results


def query_rows(r: dict, words: dict) -> list[Row]:
    rows = []
    for item in search_queries(words):
        ours = r[f"search {item.query}"]
        kind = f" ({item.label})" if item.label != item.query else ""
        name = f"search {item.query}{kind}, mofa-indexd"
        rows.append(Row(name, ours, r[CLICK], "click", item.click_limit))
        rows.append(Row(name, ours, r[item.rg_name], item.rg_name, 0.5))
    return rows


# -- bulk writes and reads ---------------------------------------------------------------------


def measure_import(bench: Bench) -> dict:
    args = bench.args
    agents = min(50, max(1, args.import_sessions // 10))  # 50 for 10,000 sessions
    spec = TreeSpec(args.import_sessions, agents, args.seed, 0.0, not args.synthetic)
    source, _ = generate_tree(bench.tools.python, args.data, spec, args.jobs)
    print(f"import of {args.import_sessions:,} sessions ...", file=sys.stderr)
    work = os.path.join(args.data, "import-work")
    try:
        times = import_times(bench.tools, source, work, args.import_runs, bench.env)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {label: statistics.median(values) for label, values in times.items()}


def import_rows(r: dict, sessions: int) -> list[Row]:
    watched, alone = IMPORT_LABELS[1], IMPORT_LABELS[0]
    name = f"import --from-dir {sessions:,} sessions, mofa-indexd"
    return [Row(name, r[watched], r[alone], "import, no watcher", 1.2)]


def measure_export(bench: Bench) -> dict:
    args = bench.args
    agents = min(20, max(1, args.export_sessions // 10))  # 20 for 1,000 sessions
    spec = TreeSpec(args.export_sessions, agents, args.seed, 0.2, not args.synthetic)
    other = open_bench(args, bench.tools, spec, "index-export.sqlite3")
    print(f"bulk export of {args.export_sessions:,} sessions ...", file=sys.stderr)
    work = os.path.join(args.data, "export-work")
    return export_medians(other.tools, other.root, work, args.runs, other.env)


def export_rows(r: dict, sessions: int) -> list[Row]:
    return [
        Row(f"{name}, {sessions:,} sessions", seconds, r[CP], "cp -r", 5)
        for name, seconds in r.items()
        if name != CP
    ]


# -- a second, larger tree ---------------------------------------------------------------------


def measure_also(args, tools: Tools, sessions: int) -> dict:
    """On a tree of `sessions` (kept between runs, its own index): the cold build against the
    naive scan, then with mofa-indexd the listings and a common word's search against click,
    and mofa-indexd's peak memory."""
    spec = TreeSpec(sessions, args.agents, args.seed, args.jsonl_fraction, not args.synthetic)
    bench = open_bench(args, tools, spec, f"index-{sessions}.sqlite3")
    results = measure_cold(bench, args.cold_runs) if args.cold_runs > 0 else {}
    if not os.path.exists(bench.index):
        build_index(bench)
    words = pick_words(bench)
    print(f"{sessions:,} sessions: with mofa-indexd ...", file=sys.stderr)
    watcher = start_watcher(tools.indexd, bench.root, bench.index, bench.env)
    try:
        build_index(bench)
        results["first search [mofa-indexd]"] = wait_for_search_data(bench, words["common"])
        commands = {
            CLICK: [tools.python, "-c", "import click"],
            "list --limit 10 (all agents)": listing(bench),
            "list --agent largest (json)": listing(bench, "--agent", bench.tree["largest"]),
            "search common": search(bench, words["common"]),
        }
        results.update(medians(commands, bench.env, args.runs))
        results["indexd_peak_rss_kb"] = proc_field(watcher.pid, "VmHWM")
    finally:
        stop_started(watcher)
    return {"tree": bench.tree, "words": words, "results": results}


def also_rows(sessions: int, other: dict) -> list[Row]:
    r, at = other["results"], f", {sessions:,} sessions"
    rows = [
        Row(
            f"list --limit 10, all agents, mofa-indexd{at}",
            r["list --limit 10 (all agents)"],
            r[CLICK],
            "click",
            1.15,
        ),
        Row(
            f"list --agent largest --limit 10, mofa-indexd{at}",
            r["list --agent largest (json)"],
            r[CLICK],
            "click",
            1.15,
        ),
        Row(
            f"search {other['words']['common']} (common word), mofa-indexd{at}",
            r["search common"],
            r[CLICK],
            "click",
            3,
        ),
        Row(
            f"mofa-indexd memory (peak){at}", r["indexd_peak_rss_kb"], None, "", 150, "MB", 1 / 1024
        ),
    ]
    if "cold_build" in r:
        rows += cold_rows(r, at)
    return rows


# -- the table ---------------------------------------------------------------------------------


def table_line(row: Row) -> str:
    if row.floor is None:
        ours = row.ours * row.scale
        met = "yes" if row.limit is None or ours <= row.limit else "**no**"
        return f"| {row.name} | {ours:.0f} {row.unit} | | | | ≤ {row.limit} {row.unit} | {met} |"
    ratio = row.ours / row.floor
    if row.limit is None:
        met, target = "–", "–"
    elif row.at_least:
        met, target = ("yes" if ratio >= row.limit else "**no**"), f"≥ {row.limit}"
    else:
        met, target = ("yes" if ratio <= row.limit else "**no**"), f"≤ {row.limit}"
    unit = "" if row.unit == "ms" else f" {row.unit}"
    return (
        f"| {row.name} | {row.ours * row.scale:.0f}{unit} | {row.floor_name} |"
        f" {row.floor * row.scale:.0f}{unit} | {ratio:.2f} | {target} | {met} |"
    )


def fewer_runs(results: dict, args) -> str:
    """What was run fewer times than the others, e.g. " (3 for cold builds)"."""
    fewer = []
    if "cold" in results or results.get("also") and args.cold_runs > 0:
        fewer.append(f"{args.cold_runs} for cold builds")
    if "search-build" in results:
        fewer.append(f"{max(1, args.cold_runs)} for first searches")
    if "import" in results:
        fewer.append(f"{args.import_runs} for imports")
    return f" ({', '.join(fewer)})" if fewer else ""


def report(results: dict, bench: Bench) -> str:
    args, tree = bench.args, bench.tree
    rows: list[Row] = []
    notes: list[str] = []
    if "listing" in results:
        rows += listing_rows(results["listing"])
        notes += listing_notes(results["listing"], bench)
    if "cold" in results:
        rows += cold_rows(results["cold"])
        if "listing" in results:
            listed = results["listing"]["list --limit 10 (all agents) [mofa-indexd]"]
            rows.append(
                Row(
                    "naive scan ÷ list --limit 10 with mofa-indexd",
                    results["cold"]["naive"],
                    listed,
                    "list, mofa-indexd",
                    50,
                    at_least=True,
                )
            )
    if "search-build" in results:
        rows += search_build_rows(results["search-build"])
        build = results["search-build"]
        notes.append(
            f"search_floor.py's database: {build['floor_bytes'] / 1e6:.0f} MB"
            f" ({build['floor_bytes'] / build['sessions_bytes']:.2f} of the sessions' bytes)."
        )
    if "queries" in results:
        rows += query_rows(results["queries"], results["words"])
        first = results["queries"]["first search [mofa-indexd]"]
        notes.append(
            f"With mofa-indexd, the first search (search data built or waited for) took"
            f" {first:.1f} s."
        )
    if "words" in results:
        w = results["words"]
        notes.append(
            f"Search words (by the share of {w['sampled_messages']:,} sampled messages that"
            f" hold them): rare {w['rare']!r}, mid {w['mid']!r}, common {w['common']!r}."
        )
    if "import" in results:
        rows += import_rows(results["import"], args.import_sessions)
    if "export" in results:
        rows += export_rows(results["export"], args.export_sessions)
    for sessions, other in results.get("also", {}).items():
        rows += also_rows(int(sessions), other)
        rate = other["tree"].get("generated_per_second")
        if rate:
            notes.append(f"{int(sessions):,} sessions were generated at {rate:,.0f} sessions/s.")
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    text = "realistic" if tree["realistic"] else "synthetic"
    lines = [
        f"{tree['sessions']:,} sessions of {text} text over {tree['agents']} agents"
        f" (largest {tree['largest_size']:,}, smallest {tree['smallest_size']:,});"
        f" medians of {args.runs} runs{fewer_runs(results, args)}; {os.cpu_count()} cores;"
        f" load average at the end {load}",
        "",
        "| command | ours | floor | floor | ratio | target | met |",
        "|---|---:|---|---:|---:|---:|:---:|",
        *(table_line(row) for row in rows),
        "",
        *notes,
        "Times in ms. Commands run from"
        + (
            " the interpreter's own install."
            if args.installed
            else f" a regular install (pip install ., bytecode compiled) in {args.data}/venv."
        ),
    ]
    return "\n".join(lines) + "\n"


def write_table(path: str, text: str) -> None:
    """Replace what is between the page's bench markers with `text`."""
    with open(path, encoding="utf-8") as handle:
        page = handle.read()
    start, end = page.find(TABLE_START), page.find(TABLE_END)
    if start < 0 or end < start:
        sys.exit(f"bench.py: {path} has no {TABLE_START!r} ... {TABLE_END!r} block to fill")
    page = page[: start + len(TABLE_START)] + "\n" + text.strip("\n") + "\n" + page[end:]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(page)


# -- the run -----------------------------------------------------------------------------------


def sections(text: str) -> set[str]:
    chosen = {name.strip() for name in text.split(",") if name.strip()}
    unknown = chosen - set(SECTIONS)
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown section {', '.join(sorted(unknown))} (sections: {', '.join(SECTIONS)})"
        )
    return chosen


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--sessions", type=int, default=100_000)
    parser.add_argument("-a", "--agents", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--jsonl-fraction", type=float, default=0.0)
    parser.add_argument(
        "--synthetic",
        action="store_true",
        help="the old synthetic text (60 words, uniform) instead of realistic English",
    )
    parser.add_argument(
        "-j", "--jobs", type=int, default=os.cpu_count(), help="processes generating a tree"
    )
    parser.add_argument("--runs", type=int, default=7, help="runs per command (median)")
    parser.add_argument(
        "--cold-runs",
        type=int,
        default=3,
        help="runs of the cold build, the first search and their floors (0: no cold build)",
    )
    parser.add_argument("--latency-writes", type=int, default=1000)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--import-sessions", type=int, default=10_000)
    parser.add_argument("--import-runs", type=int, default=3)
    parser.add_argument("--export-sessions", type=int, default=1000)
    parser.add_argument(
        "--also-sessions",
        type=int,
        metavar="N",
        action="append",
        default=[],
        help="also measure on a tree of N sessions (same agents and seed; its own index, both"
        " kept between runs), e.g. 1000000",
    )
    parser.add_argument("--only", type=sections, help=f"only these sections: {','.join(SECTIONS)}")
    parser.add_argument("--skip", type=sections, default=set(), help="leave these sections out")
    parser.add_argument("--data", default=os.path.join(CHECKOUT, "bench-data"))
    parser.add_argument(
        "--installed",
        action="store_true",
        help="run the mofa installed beside this interpreter instead of a fresh regular install"
        " (quicker: to check the script, not to measure)",
    )
    parser.add_argument(
        "--write-table",
        metavar="PATH",
        help=f"write the table between the lines {TABLE_START!r} and {TABLE_END!r} of PATH",
    )
    args = parser.parse_args()
    args.data = os.path.abspath(args.data)
    args.sections = (args.only or set(SECTIONS)) - args.skip
    if not args.also_sessions:
        args.sections.discard("also")
    return args


def run_sections(args, bench: Bench) -> dict:
    results: dict = {}
    chosen = args.sections
    if "queries" in chosen:
        need_ripgrep()  # before minutes of other work
    if "cold" in chosen and args.cold_runs > 0:
        results["cold"] = measure_cold(bench, args.cold_runs)
    if "listing" in chosen:
        results["listing"] = measure_listing(bench)
    if {"search-build", "queries"} & chosen:
        results["words"] = pick_words(bench)
    if "search-build" in chosen:
        searched = bench._replace(index=os.path.join(args.data, "index-search-build.sqlite3"))
        searched = searched._replace(env=bench_env(args.data, bench.root, searched.index))
        results["search-build"] = measure_search_build(
            searched, results["words"]["rare"], max(1, args.cold_runs)
        )
    if "queries" in chosen:
        searched = bench._replace(index=os.path.join(args.data, "index-search.sqlite3"))
        searched = searched._replace(env=bench_env(args.data, bench.root, searched.index))
        stop_watcher(searched.index)
        results["queries"] = measure_queries(searched, results["words"])
    if "import" in chosen:
        results["import"] = measure_import(bench)
    if "export" in chosen:
        results["export"] = measure_export(bench)
    if "also" in chosen:
        results["also"] = {str(n): measure_also(args, bench.tools, n) for n in args.also_sessions}
    return results


def main() -> None:
    args = parse_args()
    os.makedirs(args.data, exist_ok=True)
    tools = installed_tools() if args.installed else use_venv(args.data)
    spec = TreeSpec(args.sessions, args.agents, args.seed, args.jsonl_fraction, not args.synthetic)
    bench = open_bench(args, tools, spec, "index.sqlite3")
    results = run_sections(args, bench)
    text = report(results, bench)
    print(text)
    with open(os.path.join(args.data, "results.json"), "w") as handle:
        json.dump({"tree": bench.tree, "results": results}, handle, indent=2)
    with open(os.path.join(args.data, "results.md"), "w") as handle:
        handle.write(text)
    if args.write_table:
        write_table(args.write_table, text)


if __name__ == "__main__":
    main()
