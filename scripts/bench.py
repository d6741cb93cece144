#!/usr/bin/env python3
"""Benchmark mofa-session on a generated tree against floors measured in the same run.

    python scripts/bench.py                      # 100,000 sessions over 200 agents
    python scripts/bench.py -n 20000 --runs 3    # smaller, quicker
    python scripts/bench.py --also-sessions 300000   # and the watcher's listing at 300,000
    python scripts/bench.py --readme README.md   # and put the table into the README

What is measured is what a user gets: every command runs from a regular (not editable)
install of this checkout into a venv the benchmark keeps beside its data (`<data>/venv`),
reinstalled from the checkout on every run, so that the modules are compiled to bytecode at
install time as pip does for a user, and no editable-install import hook runs at start-up;
the floors run on the same venv's interpreter. Every timing is the median of several runs,
the commands interleaved so that a noisy neighbour hurts them all alike. Results are printed
as a Markdown table of ratios against the targets, and saved (JSON and Markdown) beside the
data.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.dirname(HERE)
sys.path.insert(
    0, CHECKOUT
)  # indexer.watch.lock, to read the watcher's record as this checkout writes it
# Set by use_venv(): the bench venv's interpreter and console scripts.
PY = MOFA = INDEXD = ""
# What a regular install of the checkout needs from it (a fresh copy each run: a stale build/
# directory in the checkout could otherwise put deleted modules into the wheel).
PACKAGE_FILES = ("setup.py", "setup.cfg", "README.md", "mofa", "indexer")
README_START = "<!-- bench.py: start -->"
README_END = "<!-- bench.py: end -->"


def use_venv(data: str) -> None:
    """Make (once) `<data>/venv` with the dependencies, then install the checkout into it, as
    `pip install .` does for a user: not editable, bytecode compiled at install time."""
    global PY, MOFA, INDEXD
    venv = os.path.join(os.path.abspath(data), "venv")
    PY, MOFA, INDEXD = (
        os.path.join(venv, "bin", name) for name in ("python", "mofa", "mofa-indexd")
    )
    pip = [PY, "-m", "pip", "--disable-pip-version-check", "-q"]
    ready = os.path.join(venv, ".mofa-bench-dependencies")
    if not os.path.exists(ready):
        print(f"making the bench venv {venv} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", venv], check=True)
        # The dependencies come from the checkout's own setup.cfg (a first install of it);
        # setuptools and wheel so that later installs build without an isolated environment.
        subprocess.run([*pip, "install", "setuptools", "wheel", "tabulate"], check=True)
        with staged_checkout(data) as source:
            subprocess.run([*pip, "install", source], check=True)
        with open(ready, "w") as handle:
            handle.write("dependencies installed\n")
    with staged_checkout(data) as source:
        subprocess.run(
            [*pip, "install", "--force-reinstall", "--no-deps", "--no-build-isolation", source],
            check=True,
        )
    where = subprocess.run(
        [PY, "-c", "import mofa, indexer; print(mofa.__file__); print(indexer.__file__)"],
        cwd="/",
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    site = os.path.join(venv, "lib")
    if not all(path.startswith(site) for path in where):
        sys.exit(f"bench.py: the bench venv imports mofa from {where}, not from its own install")
    # pip compiles at install time even with PYTHONDONTWRITEBYTECODE; make sure of it.
    package_dirs = [os.path.dirname(path) for path in where]
    subprocess.run([PY, "-m", "compileall", "-q", *package_dirs], check=True)


class staged_checkout:
    """A temporary copy of what the package is built from (the working tree as it is)."""

    def __init__(self, data: str):
        self.data = data

    def __enter__(self) -> str:
        import tempfile

        self.path = tempfile.mkdtemp(prefix="bench-source-", dir=self.data)
        for name in PACKAGE_FILES:
            source = os.path.join(CHECKOUT, name)
            if os.path.isdir(source):
                shutil.copytree(
                    source,
                    os.path.join(self.path, name),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                )
            else:
                shutil.copy2(source, self.path)
        return self.path

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def tree_for(args, sessions: int) -> tuple[str, dict]:
    name = f"sessions-{sessions}-{args.agents}-{args.seed}-{args.jsonl_fraction}"
    root = os.path.join(args.data, name)
    summary_path = root + ".json"
    if not os.path.exists(summary_path):
        shutil.rmtree(root, ignore_errors=True)
        print(
            f"generating {sessions} sessions over {args.agents} agents in {root} ...",
            file=sys.stderr,
        )
        output = subprocess.run(
            [
                PY,
                os.path.join(HERE, "generate_sessions.py"),
                "--root",
                root,
                "-n",
                str(sessions),
                "-a",
                str(args.agents),
                "--seed",
                str(args.seed),
                "--jsonl-fraction",
                str(args.jsonl_fraction),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        with open(summary_path, "w") as handle:
            handle.write(output)
    with open(summary_path) as handle:
        return os.path.realpath(root), json.loads(handle.read())  # find does not descend a symlink


def timed(argv, env) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {result.returncode}:\n"
            f"{result.stderr.decode(errors='replace')}"
        )
    return elapsed


def medians(commands: dict, env, runs: int) -> dict:
    """Each command's median over `runs` rounds, every round in a new random order (seeded:
    the same orders each run). Rotating one order made each command always follow the same one:
    the listing that followed the largest agent's stat scan measured a few ms high every time."""
    samples = {name: [] for name in commands}
    names = list(commands)
    order = random.Random(len(names) * 1000 + runs)
    for _ in range(runs):
        order.shuffle(names)
        for name in names:
            samples[name].append(timed(commands[name], env))
    return {name: statistics.median(values) for name, values in samples.items()}


def peak_rss_kb(argv, env) -> int:
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    return usage.ru_maxrss


def read_tree(root: str) -> None:
    """Read every file of the tree once, untimed, so that the cold build and the naive scan
    both find it in the page cache. Otherwise whichever runs first pays for the disk: on these
    machines DAMON reclaims pages left idle for a few minutes, and a cold build that found the
    tree evicted took 51 s (and 101 s under load) against 3.5 s for the naive scan just after."""
    for directory, _, names in os.walk(root):
        for name in names:
            with open(os.path.join(directory, name), "rb") as handle:
                while handle.read(1 << 20):
                    pass


def remove_index(path: str) -> None:
    """The index's own removal: the file, its -wal, -shm and -journal."""
    from indexer.index.database import remove_index_files

    remove_index_files(path)


def proc_field(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


FIND_FORMAT = "%T@ %s %i\n"


def watcher_answering(index: str) -> bool:
    from indexer.watch.lock import watcher_record

    record = watcher_record(index)
    return record is not None and record.state == "answering"


def stop_watcher(index: str) -> None:
    """Stop a watcher of this index that a command started (it is nobody's child here)."""
    from indexer.watch.lock import running_pid

    pid = running_pid(index)
    if pid is None or pid <= 0:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while running_pid(index) is not None and time.monotonic() < deadline:
        time.sleep(0.05)


def start_watcher(root, index, env) -> subprocess.Popen:
    """mofa-indexd for `root`, once it says it is watching (its log beside the index)."""
    log_path = index + ".bench-indexd.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [INDEXD, "--sessions-dir", root, "--index", index],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    deadline = time.monotonic() + 600
    while True:
        with open(log_path) as log:
            text = log.read()
        if "watching" in text:
            return process
        if process.poll() is not None or time.monotonic() > deadline:
            stop_started(process)
            raise RuntimeError(f"mofa-indexd did not start watching {root}:\n{text}")
        time.sleep(0.05)


def watcher_latency(root, index, writes: int) -> list[float]:
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


def measure_watched_tree(args, sessions: int) -> dict:
    """The watcher's listings on a second tree (`--also-sessions`): its own index, built first,
    then mofa-indexd, then the click floor and the listings interleaved."""
    root, tree = tree_for(args, sessions)
    index = os.path.join(args.data, f"index-{sessions}.sqlite3")
    stop_watcher(index)
    env = bench_env(args, root, index)
    listing = [MOFA, "session", "list", "--limit", "10", "--output-format", "json"]
    print(f"{sessions:,} sessions: the index (built once, then kept) ...", file=sys.stderr)
    subprocess.run(listing, env=env, stdout=subprocess.DEVNULL, check=True)
    print(f"{sessions:,} sessions: with mofa-indexd ...", file=sys.stderr)
    watcher = start_watcher(root, index, env)
    try:
        subprocess.run(listing, env=env, stdout=subprocess.DEVNULL, check=True)
        results = medians(
            {
                "python -c 'import click'": [PY, "-c", "import click"],
                "list --limit 10 (all agents)": listing,
                "list --agent largest (json)": listing[:3]
                + ["--agent", tree["largest"]]
                + listing[3:],
            },
            env,
            args.runs,
        )
    finally:
        stop_started(watcher)
    return {"tree": tree, "results": results}


def bench_env(args, root: str, index: str) -> dict:
    # Without a watcher unless a measurement starts one: auto-start off. The cache directory
    # (where the one-watcher-per-root lock lives) is the benchmark's own, so that a watcher
    # someone runs on the same tree elsewhere neither blocks nor answers these commands.
    return dict(
        os.environ,
        MOFA_SESSIONS_DIR=root,
        MOFA_INDEX_PATH=index,
        NO_COLOR="1",
        MOFA_AUTOSTART="0",
        XDG_CACHE_HOME=os.path.join(os.path.abspath(args.data), "cache"),
    )


def stop_started(watcher: subprocess.Popen) -> None:
    if watcher.poll() is None:
        watcher.send_signal(signal.SIGTERM)
        try:
            watcher.wait(timeout=30)
        except subprocess.TimeoutExpired:
            watcher.kill()
            watcher.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--sessions", type=int, default=100_000)
    parser.add_argument("-a", "--agents", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--jsonl-fraction", type=float, default=0.0)
    parser.add_argument("--runs", type=int, default=7, help="runs per command (median)")
    parser.add_argument(
        "--cold-runs",
        type=int,
        default=3,
        help="runs of the cold build and naive scan (0: skip them, keep the index)",
    )
    parser.add_argument("--latency-writes", type=int, default=1000)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument(
        "--also-sessions",
        type=int,
        metavar="N",
        action="append",
        default=[],
        help="also measure the watcher's listings on a tree of N sessions (same agents"
        " and seed; its own index, kept between runs), e.g. 300000",
    )
    parser.add_argument("--data", default=os.path.join(CHECKOUT, "bench-data"))
    parser.add_argument(
        "--readme",
        metavar="PATH",
        help=f"write the table between the lines {README_START!r} and {README_END!r} of PATH",
    )
    args = parser.parse_args()
    args.data = os.path.abspath(args.data)
    os.makedirs(args.data, exist_ok=True)
    use_venv(args.data)

    root, tree = tree_for(args, args.sessions)
    index = os.path.join(args.data, "index.sqlite3")
    stop_watcher(index)
    env = bench_env(args, root, index)
    largest, smallest = tree["largest"], tree["smallest"]
    some_session = f"{largest}:session-000000"
    listing = [MOFA, "session", "list", "--limit", "10", "--output-format", "json"]
    query = [
        MOFA,
        "session",
        "query",
        "SELECT agent, count(*) AS sessions FROM sessions GROUP BY agent",
        "--output-format",
        "json",
    ]
    naive = [PY, os.path.join(HERE, "naive_list.py"), root, "--limit", "10"]

    results = {}
    if args.cold_runs > 0:
        print("cold index build against the naive parse-everything scan ...", file=sys.stderr)
        cold, naive_times = [], []
        for run in range(args.cold_runs):
            remove_index(index)
            read_tree(root)  # both start with the tree in the page cache (see read_tree)
            if run % 2 == 0:
                cold.append(timed(listing, env))
                naive_times.append(timed(naive, env))
            else:  # neither always runs first
                naive_times.append(timed(naive, env))
                cold.append(timed(listing, env))
        results.update(cold_build=statistics.median(cold), naive=statistics.median(naive_times))
    else:
        subprocess.run(
            listing, env=env, stdout=subprocess.DEVNULL, check=True
        )  # an index to be warm with

    print("warm commands without the watcher ...", file=sys.stderr)
    results.update(
        medians(
            {
                "python -c pass": [PY, "-c", "pass"],
                "python -c 'import click'": [PY, "-c", "import click"],
                "python -c 'import click, tabulate'": [PY, "-c", "import click, tabulate"],
                # Floors that stat every file, as a command without the watcher must.
                "find tree": ["find", root, "-printf", FIND_FORMAT],
                "find largest agent": ["find", os.path.join(root, largest), "-printf", FIND_FORMAT],
                "find smallest agent": [
                    "find",
                    os.path.join(root, smallest),
                    "-printf",
                    FIND_FORMAT,
                ],
                "list --agent largest (json)": listing[:3] + ["--agent", largest] + listing[3:],
                "list --agent smallest (json)": listing[:3] + ["--agent", smallest] + listing[3:],
                "list --agent smallest (table)": [
                    MOFA,
                    "session",
                    "list",
                    "--agent",
                    smallest,
                    "--limit",
                    "10",
                ],
                "list --limit 10 (all agents)": listing,
                "show": [MOFA, "session", "show", some_session, "--format", "json"],
                "query (group by agent)": query,
            },
            env,
            args.runs,
        )
    )
    results["peak_rss_list_all_json_kb"] = peak_rss_kb(
        [MOFA, "session", "list", "--output-format", "json"], env
    )

    print(
        "auto-start: the first list starts mofa-indexd, the next ones take its handshake ...",
        file=sys.stderr,
    )
    auto_env = dict(env, MOFA_AUTOSTART="1")
    from indexer.store import AUTOSTART_MIN_FILES

    if tree["sessions"] < AUTOSTART_MIN_FILES:  # a small tree (a quick run): start it all the same
        auto_env["MOFA_AUTOSTART_MIN_FILES"] = "1"
    try:
        results["auto first list"] = timed(listing, auto_env)
        started = time.monotonic()
        while not watcher_answering(index):
            if time.monotonic() - started > 120:
                raise RuntimeError("the auto-started mofa-indexd never answered")
            time.sleep(0.05)
        results["auto watcher ready_s"] = time.monotonic() - started
        results.update(
            {
                f"{name} [auto]": value
                for name, value in medians(
                    {
                        "python -c 'import click'": [PY, "-c", "import click"],
                        "list --limit 10 (all agents)": listing,
                    },
                    auto_env,
                    args.runs,
                ).items()
            }
        )
    finally:
        stop_watcher(index)

    print("with mofa-indexd ...", file=sys.stderr)
    watcher = start_watcher(root, index, env)
    try:
        subprocess.run(listing, env=env, stdout=subprocess.DEVNULL, check=True)
        results.update(
            {
                f"{name} [mofa-indexd]": value
                for name, value in medians(
                    {
                        "python -c 'import click'": [PY, "-c", "import click"],
                        "list --limit 10 (all agents)": listing,
                        "list --agent largest (json)": listing[:3]
                        + ["--agent", largest]
                        + listing[3:],
                        "show": [MOFA, "session", "show", some_session, "--format", "json"],
                        "query (group by agent)": query,
                    },
                    env,
                    args.runs,
                ).items()
            }
        )
        results["indexd_rss_kb"] = proc_field(watcher.pid, "VmRSS")
        before = cpu_seconds(watcher.pid)
        time.sleep(args.idle_seconds)
        results["indexd_idle_cpu_percent"] = (
            100 * (cpu_seconds(watcher.pid) - before) / args.idle_seconds
        )
        if args.latency_writes:
            latencies = sorted(watcher_latency(root, index, args.latency_writes))
            results["latency_median_ms"] = 1000 * statistics.median(latencies)
            results["latency_p99_ms"] = 1000 * latencies[int(0.99 * (len(latencies) - 1))]
        results["indexd_peak_rss_kb"] = proc_field(watcher.pid, "VmHWM")
    finally:
        stop_started(watcher)

    others = {sessions: measure_watched_tree(args, sessions) for sessions in args.also_sessions}
    results["load_average"] = os.getloadavg()
    text = report(results, tree, args, others)
    print(text)
    with open(os.path.join(args.data, "results.json"), "w") as handle:
        json.dump(
            {
                "tree": tree,
                "results": results,
                "also": {str(sessions): other for sessions, other in others.items()},
            },
            handle,
            indent=2,
        )
    with open(os.path.join(args.data, "results.md"), "w") as handle:
        handle.write(text)
    if args.readme:
        update_readme(args.readme, text)


def update_readme(path: str, text: str) -> None:
    """Replace what is between the README's bench markers with `text`."""
    with open(path, encoding="utf-8") as handle:
        readme = handle.read()
    start, end = readme.find(README_START), readme.find(README_END)
    if start < 0 or end < start:
        sys.exit(f"bench.py: {path} has no {README_START!r} ... {README_END!r} block to fill")
    readme = readme[: start + len(README_START)] + "\n" + text.strip("\n") + "\n" + readme[end:]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(readme)


def report(r: dict, tree: dict, args, others: dict) -> str:
    lines = []
    out = lines.append
    click = r["python -c 'import click'"]
    watch_click = r["python -c 'import click' [mofa-indexd]"]
    auto_click = r["python -c 'import click' [auto]"]
    rows = [
        (
            "list --limit 10, all agents, mofa-indexd",
            r["list --limit 10 (all agents) [mofa-indexd]"],
            watch_click,
            "click",
            1.15,
        ),
        (
            "list --agent largest --limit 10, mofa-indexd",
            r["list --agent largest (json) [mofa-indexd]"],
            watch_click,
            "click",
            1.15,
        ),
        (
            "query group by agent, mofa-indexd",
            r["query (group by agent) [mofa-indexd]"],
            watch_click,
            "click",
            1.3,
        ),
        ("show one session, mofa-indexd", r["show [mofa-indexd]"], watch_click, "click", 1.3),
    ]
    for sessions, other in others.items():
        o = other["results"]
        rows += [
            (
                f"list --limit 10, all agents, mofa-indexd, {sessions:,} sessions",
                o["list --limit 10 (all agents)"],
                o["python -c 'import click'"],
                "click",
                1.15,
            ),
            (
                f"list --agent largest --limit 10, mofa-indexd, {sessions:,} sessions",
                o["list --agent largest (json)"],
                o["python -c 'import click'"],
                "click",
                1.15,
            ),
        ]
    rows += [
        (
            "auto-start: list --limit 10 after the first",
            r["list --limit 10 (all agents) [auto]"],
            auto_click,
            "click",
            1.15,
        ),
        (
            "list --agent largest --limit 10, no watcher",
            r["list --agent largest (json)"],
            click + r["find largest agent"],
            "click + find -printf largest agent",
            1.3,
        ),
        (
            "list --limit 10, all agents, no watcher",
            r["list --limit 10 (all agents)"],
            click + r["find tree"],
            "click + find -printf tree",
            1.5,
        ),
        (
            "list --agent smallest --limit 10 (json), no watcher",
            r["list --agent smallest (json)"],
            click,
            "click",
            1.3,
        ),
        (
            "list --agent smallest --limit 10 (table), no watcher",
            r["list --agent smallest (table)"],
            r["python -c 'import click, tabulate'"],
            "click+tabulate",
            1.3,
        ),
        ("show one session, no watcher", r["show"], click, "click", 1.3),
        (
            "query group by agent, no watcher",
            r["query (group by agent)"],
            click + r["find tree"],
            "click + find -printf tree",
            None,
        ),
    ]
    if "cold_build" in r:
        rows.append(
            ("cold index build", r["cold_build"], r["naive"], "naive parse-everything", 0.8)
        )
    cold = f" ({args.cold_runs} for cold builds)" if "cold_build" in r else ""
    load = ", ".join(f"{value:.2f}" for value in r["load_average"])
    out(
        f"{tree['sessions']:,} sessions over {tree['agents']} agents"
        f" (largest {tree['largest_size']:,}, smallest {tree['smallest_size']:,});"
        f" medians of {args.runs} runs{cold}; {os.cpu_count()} cores;"
        f" load average at the end {load}"
    )
    out("")
    out("| command | ours (ms) | floor | floor (ms) | ratio | target | met |")
    out("|---|---:|---|---:|---:|---:|:---:|")
    for name, ours, floor, floor_name, limit in rows:
        ratio = ours / floor
        met = "–" if limit is None else ("yes" if ratio <= limit else "**no**")
        out(
            f"| {name} | {ours * 1000:.0f} | {floor_name} | {floor * 1000:.0f} | {ratio:.2f} |"
            f" {'–' if limit is None else f'≤ {limit}'} | {met} |"
        )
    if "naive" in r:
        speedup = r["naive"] / r["list --limit 10 (all agents) [mofa-indexd]"]
        out(
            f"| naive scan ÷ list with mofa-indexd | {speedup:.0f}× | | | | ≥ 50× |"
            f" {'yes' if speedup >= 50 else '**no**'} |"
        )
    mem = r["peak_rss_list_all_json_kb"] / 1024
    out(
        f"| peak memory, list --output-format json of all sessions | {mem:.0f} MB | | | | ≤ 80 MB |"
        f" {'yes' if mem <= 80 else '**no**'} |"
    )
    indexd = r["indexd_peak_rss_kb"] / 1024
    out(
        f"| mofa-indexd memory watching all sessions (peak) | {indexd:.0f} MB | | | | ≤ 150 MB |"
        f" {'yes' if indexd <= 150 else '**no**'} |"
    )
    out("")
    tabulate = r["python -c 'import click, tabulate'"]
    naive = f"; naive scan {r['naive'] * 1000:.0f} ms" if "naive" in r else ""
    out(
        f"Floors: python -c pass {r['python -c pass'] * 1000:.0f} ms,"
        f" import click {click * 1000:.0f} ms, import click+tabulate {tabulate * 1000:.0f} ms"
        f" (tabulate: +{(tabulate - click) * 1000:.0f} ms),"
        f" find -printf tree {r['find tree'] * 1000:.0f} ms,"
        f" largest agent {r['find largest agent'] * 1000:.0f} ms,"
        f" smallest agent {r['find smallest agent'] * 1000:.0f} ms{naive}."
    )
    for sessions, other in others.items():
        o, base = other["results"], r["list --limit 10 (all agents) [mofa-indexd]"] - watch_click
        extra = o["list --limit 10 (all agents)"] - o["python -c 'import click'"]
        out(
            f"At {sessions:,} sessions, list --limit 10 with mofa-indexd costs"
            f" {extra * 1000:+.1f} ms over its click floor,"
            f" against {base * 1000:+.1f} ms at {tree['sessions']:,}."
        )
    out(
        f"Auto-start: the first list took {r['auto first list'] * 1000:.0f} ms"
        " and started mofa-indexd,"
        f" which answered {r['auto watcher ready_s']:.1f} s later."
    )
    if "latency_median_ms" in r:
        out(
            f"mofa-indexd: write→row latency median {r['latency_median_ms']:.1f} ms, p99"
            f" {r['latency_p99_ms']:.1f} ms over {args.latency_writes} writes; idle CPU"
            f" {r['indexd_idle_cpu_percent']:.2f} % over {args.idle_seconds:.0f} s;"
            f" RSS {r['indexd_rss_kb'] / 1024:.0f} MB (peak {indexd:.0f} MB)."
        )
    out(
        "Commands run from a regular install (pip install ., bytecode compiled)"
        f" in {os.path.join(args.data, 'venv')}."
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
