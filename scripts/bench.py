#!/usr/bin/env python3
"""Benchmark mofa-session on a generated tree against floors measured in the same run.

    python scripts/bench.py                      # 100,000 sessions over 200 agents
    python scripts/bench.py -n 20000 --runs 3    # smaller, quicker

Every timing is the median of several runs, the commands interleaved so that a noisy
neighbour hurts them all alike. Results are printed as a Markdown table of ratios against the
targets, and saved as JSON beside the data.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.dirname(sys.executable)
PY = sys.executable
MOFA = os.path.join(BIN, "mofa")
INDEXD = os.path.join(BIN, "mofa-indexd")


def tree_for(args) -> tuple[str, dict]:
    name = f"sessions-{args.sessions}-{args.agents}-{args.seed}-{args.jsonl_fraction}"
    root = os.path.join(args.data, name)
    summary_path = root + ".json"
    if not os.path.exists(summary_path):
        shutil.rmtree(root, ignore_errors=True)
        print(f"generating {args.sessions} sessions over {args.agents} agents in {root} ...", file=sys.stderr)
        output = subprocess.run(
            [PY, os.path.join(HERE, "generate_sessions.py"), "--root", root, "-n", str(args.sessions),
             "-a", str(args.agents), "--seed", str(args.seed), "--jsonl-fraction", str(args.jsonl_fraction)],
            check=True, capture_output=True, text=True).stdout
        with open(summary_path, "w") as handle:
            handle.write(output)
    with open(summary_path) as handle:
        return root, json.loads(handle.read())


def timed(argv, env) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def medians(commands: dict, env, runs: int) -> dict:
    samples = {name: [] for name in commands}
    names = list(commands)
    for _ in range(runs):
        for name in names:
            samples[name].append(timed(commands[name], env))
        names = names[1:] + names[:1]  # rotate: no command always runs first
    return {name: statistics.median(values) for name, values in samples.items()}


def peak_rss_kb(argv, env) -> int:
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    return usage.ru_maxrss


def remove_index(path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(path + suffix)
        except FileNotFoundError:
            pass


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
    from indexer.lock import watcher_record

    record = watcher_record(index)
    return record is not None and record.state == "answering"


def stop_watcher(index: str) -> None:
    """Stop a watcher of this index that a command started (it is nobody's child here)."""
    from indexer.lock import running_pid

    pid = running_pid(index)
    if pid is None or pid <= 0:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while running_pid(index) is not None and time.monotonic() < deadline:
        time.sleep(0.05)


def start_watcher(root, index, env):
    process = subprocess.Popen([INDEXD, "--sessions-dir", root, "--index", index], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in process.stderr:
        if "watching" in line:
            break
    return process


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
            while conn.execute("SELECT 1 FROM sessions WHERE session_id = ?", (session_id,)).fetchone() is None:
                if time.perf_counter() - started > 10:
                    raise RuntimeError(f"{session_id} never reached the index")
                time.sleep(0.0002)
            latencies.append(time.perf_counter() - started)
    finally:
        conn.close()
        shutil.rmtree(directory)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--sessions", type=int, default=100_000)
    parser.add_argument("-a", "--agents", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--jsonl-fraction", type=float, default=0.0)
    parser.add_argument("--runs", type=int, default=7, help="runs per command (median)")
    parser.add_argument("--cold-runs", type=int, default=3, help="runs of the cold build and naive scan")
    parser.add_argument("--latency-writes", type=int, default=1000)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--data", default=os.path.join(os.path.dirname(HERE), "bench-data"))
    args = parser.parse_args()
    if subprocess.run([PY, "-c", "import click, tabulate"], capture_output=True).returncode != 0:
        sys.exit("bench.py: the click+tabulate floor needs tabulate: pip install '.[bench]'")

    root, tree = tree_for(args)
    root = os.path.realpath(root)  # find does not descend into a symlinked starting point
    index = os.path.join(args.data, "index.sqlite3")
    stop_watcher(index)
    # Without a watcher unless a measurement starts one: auto-start off.
    env = dict(os.environ, MOFA_SESSIONS_DIR=root, MOFA_INDEX_PATH=index, NO_COLOR="1", MOFA_AUTOSTART="0")
    largest, smallest = tree["largest"], tree["smallest"]
    some_session = f"{largest}:session-000000"
    listing = [MOFA, "session", "list", "--limit", "10", "--output-format", "json"]
    query = [MOFA, "session", "query", "SELECT agent, count(*) AS sessions FROM sessions GROUP BY agent",
             "--output-format", "json"]
    naive = [PY, os.path.join(HERE, "naive_list.py"), root, "--limit", "10"]

    print("cold index build against the naive parse-everything scan ...", file=sys.stderr)
    cold, naive_times = [], []
    for _ in range(args.cold_runs):
        remove_index(index)
        cold.append(timed(listing, env))
        naive_times.append(timed(naive, env))
    results = {"cold_build": statistics.median(cold), "naive": statistics.median(naive_times)}

    print("warm commands without the watcher ...", file=sys.stderr)
    results.update(medians({
        "python -c pass": [PY, "-c", "pass"],
        "python -c 'import click'": [PY, "-c", "import click"],
        "python -c 'import click, tabulate'": [PY, "-c", "import click, tabulate"],
        # Floors that stat every file, as a command without the watcher must.
        "find tree": ["find", root, "-printf", FIND_FORMAT],
        "find largest agent": ["find", os.path.join(root, largest), "-printf", FIND_FORMAT],
        "find smallest agent": ["find", os.path.join(root, smallest), "-printf", FIND_FORMAT],
        "list --agent largest (json)": listing[:3] + ["--agent", largest] + listing[3:],
        "list --agent smallest (json)": listing[:3] + ["--agent", smallest] + listing[3:],
        "list --agent smallest (table)": [MOFA, "session", "list", "--agent", smallest, "--limit", "10"],
        "list --limit 10 (all agents)": listing,
        "show": [MOFA, "session", "show", some_session, "--format", "json"],
        "query (group by agent)": query,
    }, env, args.runs))
    results["peak_rss_list_all_json_kb"] = peak_rss_kb([MOFA, "session", "list", "--output-format", "json"], env)

    print("auto-start: the first list starts mofa-indexd, the next ones take its handshake ...", file=sys.stderr)
    auto_env = dict(env, MOFA_AUTOSTART="1")
    try:
        results["auto first list"] = timed(listing, auto_env)
        started = time.monotonic()
        while not watcher_answering(index):
            if time.monotonic() - started > 120:
                raise RuntimeError("the auto-started mofa-indexd never answered")
            time.sleep(0.05)
        results["auto watcher ready_s"] = time.monotonic() - started
        results.update({f"{name} [auto]": value for name, value in medians({
            "python -c 'import click'": [PY, "-c", "import click"],
            "list --limit 10 (all agents)": listing,
        }, auto_env, args.runs).items()})
    finally:
        stop_watcher(index)

    print("with mofa-indexd ...", file=sys.stderr)
    watcher = start_watcher(root, index, env)
    try:
        subprocess.run(listing, env=env, stdout=subprocess.DEVNULL, check=True)
        results.update({f"{name} [mofa-indexd]": value for name, value in medians({
            "python -c 'import click'": [PY, "-c", "import click"],
            "list --limit 10 (all agents)": listing,
            "list --agent largest (json)": listing[:3] + ["--agent", largest] + listing[3:],
            "show": [MOFA, "session", "show", some_session, "--format", "json"],
            "query (group by agent)": query,
        }, env, args.runs).items()})
        results["indexd_rss_kb"] = proc_field(watcher.pid, "VmRSS")
        before = cpu_seconds(watcher.pid)
        time.sleep(args.idle_seconds)
        results["indexd_idle_cpu_percent"] = 100 * (cpu_seconds(watcher.pid) - before) / args.idle_seconds
        if args.latency_writes:
            latencies = sorted(watcher_latency(root, index, args.latency_writes))
            results["latency_median_ms"] = 1000 * statistics.median(latencies)
            results["latency_p99_ms"] = 1000 * latencies[int(0.99 * (len(latencies) - 1))]
        results["indexd_peak_rss_kb"] = proc_field(watcher.pid, "VmHWM")
    finally:
        watcher.send_signal(signal.SIGTERM)
        watcher.wait(timeout=30)

    report(results, tree, args)
    with open(os.path.join(args.data, "results.json"), "w") as handle:
        json.dump({"tree": tree, "results": results}, handle, indent=2)


def report(r: dict, tree: dict, args) -> None:
    click = r["python -c 'import click'"]
    watch_click = r["python -c 'import click' [mofa-indexd]"]
    auto_click = r["python -c 'import click' [auto]"]
    rows = [
        ("list --limit 10, all agents, mofa-indexd", r["list --limit 10 (all agents) [mofa-indexd]"],
         watch_click, "click", 1.15),
        ("list --agent largest --limit 10, mofa-indexd", r["list --agent largest (json) [mofa-indexd]"],
         watch_click, "click", 1.15),
        ("query group by agent, mofa-indexd", r["query (group by agent) [mofa-indexd]"],
         watch_click, "click", 1.3),
        ("show one session, mofa-indexd", r["show [mofa-indexd]"], watch_click, "click", 1.3),
        ("auto-start: list --limit 10 after the first", r["list --limit 10 (all agents) [auto]"],
         auto_click, "click", 1.15),
        ("list --agent largest --limit 10, no watcher", r["list --agent largest (json)"],
         click + r["find largest agent"], "click + find -printf largest agent", 1.3),
        ("list --limit 10, all agents, no watcher", r["list --limit 10 (all agents)"], click + r["find tree"],
         "click + find -printf tree", 1.5),
        ("list --agent smallest --limit 10 (json), no watcher", r["list --agent smallest (json)"],
         click, "click", 1.3),
        ("list --agent smallest --limit 10 (table), no watcher", r["list --agent smallest (table)"],
         r["python -c 'import click, tabulate'"], "click+tabulate", 1.3),
        ("show one session, no watcher", r["show"], click, "click", 1.3),
        ("query group by agent, no watcher", r["query (group by agent)"], click + r["find tree"],
         "click + find -printf tree", None),
        ("cold index build", r["cold_build"], r["naive"], "naive parse-everything", 0.8),
    ]
    print(f"\n{tree['sessions']:,} sessions over {tree['agents']} agents (largest {tree['largest_size']:,},"
          f" smallest {tree['smallest_size']:,}); medians of {args.runs} runs ({args.cold_runs} for cold"
          f" builds); {os.cpu_count()} cores\n")
    print("| command | ours (ms) | floor | floor (ms) | ratio | target | met |")
    print("|---|---:|---|---:|---:|---:|:---:|")
    for name, ours, floor, floor_name, limit in rows:
        ratio = ours / floor
        met = "–" if limit is None else ("yes" if ratio <= limit else "**no**")
        print(f"| {name} | {ours * 1000:.0f} | {floor_name} | {floor * 1000:.0f} | {ratio:.2f} |"
              f" {'–' if limit is None else f'≤ {limit}'} | {met} |")
    speedup = r["naive"] / r["list --limit 10 (all agents) [mofa-indexd]"]
    print(f"| naive scan ÷ list with mofa-indexd | {speedup:.0f}× | | | | ≥ 50× |"
          f" {'yes' if speedup >= 50 else '**no**'} |")
    mem = r["peak_rss_list_all_json_kb"] / 1024
    print(f"| peak memory, list --output-format json of all sessions | {mem:.0f} MB | | | | ≤ 80 MB |"
          f" {'yes' if mem <= 80 else '**no**'} |")
    indexd = r["indexd_peak_rss_kb"] / 1024
    print(f"| mofa-indexd memory watching all sessions (peak) | {indexd:.0f} MB | | | | ≤ 150 MB |"
          f" {'yes' if indexd <= 150 else '**no**'} |")
    tabulate = r["python -c 'import click, tabulate'"]
    print(f"\nFloors: python -c pass {r['python -c pass'] * 1000:.0f} ms, import click {click * 1000:.0f} ms,"
          f" import click+tabulate {tabulate * 1000:.0f} ms (tabulate: +{(tabulate - click) * 1000:.0f} ms),"
          f" find -printf tree {r['find tree'] * 1000:.0f} ms, largest agent {r['find largest agent'] * 1000:.0f} ms,"
          f" smallest agent {r['find smallest agent'] * 1000:.0f} ms; naive scan {r['naive'] * 1000:.0f} ms.")
    print(f"Auto-start: the first list took {r['auto first list'] * 1000:.0f} ms and started mofa-indexd,"
          f" which answered {r['auto watcher ready_s']:.1f} s later.")
    if "latency_median_ms" in r:
        print(f"mofa-indexd: write→row latency median {r['latency_median_ms']:.1f} ms, p99"
              f" {r['latency_p99_ms']:.1f} ms over {args.latency_writes} writes; idle CPU"
              f" {r['indexd_idle_cpu_percent']:.2f} % over {args.idle_seconds:.0f} s;"
              f" RSS {r['indexd_rss_kb'] / 1024:.0f} MB (peak {indexd:.0f} MB).")


if __name__ == "__main__":
    main()
