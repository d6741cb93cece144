#!/usr/bin/env python3
"""Measure finding and cleaning up on a generated tree, against floors measured in
the same run: `search` (first, repeated, with and without mofa-indexd), the index's size with
and without search data, what search data costs a cold build and a `list`, and `prune` /
`delete -` of 10,000 sessions against `find -delete` over the same files.

    python scripts/bench_find.py                     # 100,000 sessions over 200 agents
    python scripts/bench_find.py -n 20000 --runs 3   # smaller, quicker
    python scripts/bench_find.py --part delete       # only prune / delete -

Timings are medians of runs with the commands interleaved (a noisy neighbour hurts them all
alike). Every run of a deleting command gets a fresh `cp -a` copy of the tree and an index
brought up to date on it, neither timed. The tree's file mtimes are set to each session's
created_at once, so that `find ! -newermt CUTOFF` selects the very files `prune` removes.
Results are printed as Markdown and saved to DATA/find-results.json.
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
from datetime import datetime

from benchlib import stop_started

from indexer.index.database import remove_index_files as remove_index

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.dirname(sys.executable)
PY = sys.executable
MOFA = os.path.join(BIN, "mofa")
INDEXD = os.path.join(BIN, "mofa-indexd")
CLICK = [PY, "-c", "import click"]


# -- small helpers (our own, so that this script does not follow bench.py's changes) ----------


def run(argv, env, stdin: bytes | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(
        argv, env=env, input=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True
    )
    return time.perf_counter() - started


def medians(commands: dict, runs: int) -> dict:
    """name -> (argv, env); the median of `runs` interleaved runs, rotated each round."""
    samples = {name: [] for name in commands}
    names = list(commands)
    for _ in range(runs):
        for name in names:
            samples[name].append(run(*commands[name]))
        names = names[1:] + names[:1]
    return {name: statistics.median(values) for name, values in samples.items()}


def copy_index(source: str, target: str) -> None:
    checkpoint(source)
    remove_index(target)
    shutil.copyfile(source, target)


def checkpoint(path: str) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def index_bytes(path: str) -> int:
    checkpoint(path)
    return sum(
        os.path.getsize(path + suffix) for suffix in ("", "-wal") if os.path.exists(path + suffix)
    )


def tree_bytes(root: str) -> int:
    return int(
        subprocess.run(
            ["du", "-sb", root], capture_output=True, text=True, check=True
        ).stdout.split()[0]
    )


def environment(root: str, index: str) -> dict:
    return dict(os.environ, MOFA_SESSIONS_DIR=root, MOFA_INDEX_PATH=index, NO_COLOR="1")


def start_watcher(root: str, index: str):
    process = subprocess.Popen(
        [INDEXD, "--sessions-dir", root, "--index", index],
        env=environment(root, index),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in process.stderr:
        if "watching" in line:
            break
    else:
        process.wait(timeout=30)
        raise RuntimeError("mofa-indexd stopped before it was watching")
    return process


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# -- the tree --------------------------------------------------------------------------------


def tree_for(args) -> tuple[str, dict]:
    root = os.path.realpath(os.path.join(args.data, f"sessions-{args.sessions}"))
    summary_path = root + ".json"
    if not os.path.exists(summary_path):
        shutil.rmtree(root, ignore_errors=True)
        log(f"generating {args.sessions} sessions over {args.agents} agents in {root}")
        output = subprocess.run(
            [
                PY,
                os.path.join(HERE, "generate_sessions.py"),
                "--root",
                root,
                "-n",
                str(args.sessions),
                "-a",
                str(args.agents),
                "--seed",
                str(args.seed),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        with open(summary_path, "w") as handle:
            handle.write(output)
    with open(summary_path) as handle:
        return root, json.loads(handle.read())


def created_epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def deletion_plan(root: str, data: str, count: int) -> dict:
    """Set each session file's mtime to its created_at (once), then pick a cutoff in a quiet
    gap near the `count`-th oldest session: the ids before it, the cutoff's epoch."""
    plan_path = os.path.join(data, f"delete-plan-{count}.json")
    if os.path.exists(plan_path):
        with open(plan_path) as handle:
            return json.load(handle)
    log("setting mtimes to created_at and choosing the sessions to delete")
    sessions = []
    for agent in sorted(os.listdir(root)):
        directory = os.path.join(root, agent)
        if not os.path.isdir(directory):
            continue
        for name in os.listdir(directory):
            if not name.endswith(".json"):
                continue
            path = os.path.join(directory, name)
            with open(path, "rb") as handle:
                created = created_epoch(json.loads(handle.read())["created_at"])
            os.utime(path, (created, created))
            sessions.append((created, f"{agent}:{name[: -len('.json')]}"))
    sessions.sort()
    # A gap of more than 4 minutes: `--older-than` counts whole minutes from the moment prune runs.
    position = next(
        k for k in range(count, len(sessions)) if sessions[k][0] - sessions[k - 1][0] > 240
    )
    plan = {
        "cutoff": (sessions[position - 1][0] + sessions[position][0]) / 2,
        "ids": [session_id for _, session_id in sessions[:position]],
        "total": len(sessions),
    }
    with open(plan_path, "w") as handle:
        json.dump(plan, handle)
    return plan


def count_files(root: str) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


# -- search ----------------------------------------------------------------------------------


def measure_search(root: str, data: str, args, results: dict) -> None:
    plain = os.path.join(data, "plain.sqlite3")  # the index nobody searched
    searched = os.path.join(data, "searched.sqlite3")  # the same after a first search
    cold = os.path.join(data, "cold.sqlite3")
    word = [MOFA, "session", "search", args.word, "--output-format", "json"]
    phrase = [MOFA, "session", "search", args.phrase, "--output-format", "json"]
    listing = [MOFA, "session", "list", "--limit", "10", "--output-format", "json"]
    rebuild = [MOFA, "session", "index", "rebuild"]
    samples: dict[str, list[float]] = {
        name: []
        for name in (
            "cold build (list)",
            "cold build (search)",
            "rebuild",
            "first search",
            "rebuild, search data exists",
            "search after that rebuild",
        )
    }
    for number in range(args.cold_runs):
        log(f"cold builds and first search, round {number + 1}/{args.cold_runs}")
        remove_index(plain)
        samples["cold build (list)"].append(run(listing, environment(root, plain)))
        samples["rebuild"].append(run(rebuild, environment(root, plain)))
        copy_index(plain, searched)
        samples["first search"].append(run(word, environment(root, searched)))
        samples["rebuild, search data exists"].append(run(rebuild, environment(root, searched)))
        samples["search after that rebuild"].append(run(word, environment(root, searched)))
        remove_index(cold)
        samples["cold build (search)"].append(run(word, environment(root, cold)))
    results["cold"] = {name: statistics.median(values) for name, values in samples.items()}
    results["cold_samples"] = samples
    remove_index(cold)

    results["sizes"] = {
        "tree": tree_bytes(root),
        "index": index_bytes(plain),
        "index with search data": index_bytes(searched),
    }

    log("warm commands without the watcher")
    results["warm"] = medians(
        {
            "python -c pass": ([PY, "-c", "pass"], None),
            "import click": (CLICK, None),
            "list, nobody searched": (listing, environment(root, plain)),
            "list, search data exists": (listing, environment(root, searched)),
            f"search {args.word}": (word, environment(root, searched)),
            f"search {args.phrase}": (phrase, environment(root, searched)),
        },
        args.runs,
    )

    log("with mofa-indexd")
    watcher = start_watcher(root, searched)
    try:
        run(listing, environment(root, searched))
        results["watcher"] = medians(
            {
                "import click": (CLICK, None),
                "list": (listing, environment(root, searched)),
                f"search {args.word}": (word, environment(root, searched)),
                f"search {args.phrase}": (phrase, environment(root, searched)),
            },
            args.runs,
        )
    finally:
        stop_started(watcher)
    with open(os.path.join(data, "hits.json"), "w") as handle:
        handle.write(
            subprocess.run(
                word, env=environment(root, searched), capture_output=True, text=True
            ).stdout
        )


# -- prune, delete - ---------------------------------------------------------------------------


def measure_delete(root: str, data: str, args, results: dict) -> None:
    plan = deletion_plan(root, data, args.delete)
    ids = plan["ids"]
    copy = os.path.join(data, "copy")
    index = os.path.join(data, "copy.sqlite3")
    stdin = ("\n".join(ids) + "\n").encode()
    stamp = datetime.fromtimestamp(plan["cutoff"]).astimezone().strftime("%Y-%m-%d %H:%M:%S %z")

    def fresh_copy(indexed: bool) -> None:
        shutil.rmtree(copy, ignore_errors=True)
        subprocess.run(["cp", "-a", root, copy], check=True)
        remove_index(index)
        if indexed:  # the index a user has: up to date before the command runs
            run([MOFA, "session", "list", "--limit", "1"], environment(copy, index))
        subprocess.run(["sync"], check=True)

    def prune() -> list[str]:
        minutes = round((time.time() - plan["cutoff"]) / 60)
        return [MOFA, "session", "prune", "--older-than", f"{minutes}m", "--force"]

    commands = {
        "find -delete": (
            False,
            lambda: ["find", copy, "-name", "*.json", "!", "-newermt", stamp, "-delete"],
            None,
        ),
        "prune --older-than --force": (True, prune, None),
        "delete - --force": (True, lambda: [MOFA, "session", "delete", "-", "--force"], stdin),
    }
    samples = {name: [] for name in commands}
    names = list(commands)
    for number in range(args.delete_runs):
        for name in names:
            log(f"{name}, round {number + 1}/{args.delete_runs}")
            indexed, argv, given = commands[name]
            fresh_copy(indexed)
            samples[name].append(run(argv(), environment(copy, index), given))
            left = count_files(copy)
            if left != plan["total"] - len(ids):
                raise RuntimeError(f"{name} left {left} files, not {plan['total'] - len(ids)}")
        names = names[1:] + names[:1]
    shutil.rmtree(copy, ignore_errors=True)
    remove_index(index)
    results["delete"] = {name: statistics.median(values) for name, values in samples.items()}
    results["delete_samples"] = samples
    results["deleted"] = len(ids)


# -- report ----------------------------------------------------------------------------------


def report(r: dict, tree: dict, args) -> None:
    ms = lambda seconds: f"{1000 * seconds:.0f}"  # noqa: E731
    lines = [
        f"{tree['sessions']:,} sessions over {tree['agents']} agents; medians of {args.runs} runs "
        f"({args.cold_runs} for cold builds, {args.delete_runs} for deletions);"
        f" {os.cpu_count()} cores",
        "",
        "| command | ours (ms) | floor | floor (ms) | ratio |",
        "|---|---:|---|---:|---:|",
    ]
    if "warm" in r:
        warm, watch, cold, click = r["warm"], r["watcher"], r["cold"], r["warm"]["import click"]
        for name in (f"search {args.word}", f"search {args.phrase}"):
            lines.append(
                f"| {name} | {ms(warm[name])} | click | {ms(click)} | {warm[name] / click:.2f} |"
            )
            lines.append(
                f"| {name}, mofa-indexd | {ms(watch[name])} | click"
                f" | {ms(watch['import click'])} | {watch[name] / watch['import click']:.2f} |"
            )
        lines.append(
            f"| list, search data exists | {ms(warm['list, search data exists'])}"
            f" | list, nobody searched | {ms(warm['list, nobody searched'])} | "
            f"{warm['list, search data exists'] / warm['list, nobody searched']:.2f} |"
        )
        lines.append(
            f"| first search (builds search data) | {ms(cold['first search'])}"
            f" | cold build (list) | {ms(cold['cold build (list)'])}"
            f" | {cold['first search'] / cold['cold build (list)']:.2f} |"
        )
        lines.append(
            f"| cold build with search (search, no index) | {ms(cold['cold build (search)'])}"
            f" | cold build (list) | {ms(cold['cold build (list)'])} | "
            f"{cold['cold build (search)'] / cold['cold build (list)']:.2f} |"
        )
        lines.append(
            f"| index rebuild, search data exists | {ms(cold['rebuild, search data exists'])}"
            f" | index rebuild | {ms(cold['rebuild'])}"
            f" | {cold['rebuild, search data exists'] / cold['rebuild']:.2f} |"
        )
        lines.append(
            f"| search right after that rebuild | {ms(cold['search after that rebuild'])}"
            f" | search | {ms(warm[f'search {args.word}'])} | "
            f"{cold['search after that rebuild'] / warm[f'search {args.word}']:.2f} |"
        )
    if "delete" in r:
        d = r["delete"]
        for name in ("prune --older-than --force", "delete - --force"):
            lines.append(
                f"| {name}, {r['deleted']:,} sessions | {ms(d[name])} | find -delete | "
                f"{ms(d['find -delete'])} | {d[name] / d['find -delete']:.2f} |"
            )
    if "sizes" in r:
        s = r["sizes"]
        mb = lambda n: f"{n / 1e6:.0f} MB"  # noqa: E731
        lines += [
            "",
            f"Sizes: sessions {mb(s['tree'])} (du -sb); index {mb(s['index'])} "
            f"({s['index'] / s['tree']:.1%} of the sessions); with search data "
            f"{mb(s['index with search data'])} ({s['index with search data'] / s['tree']:.1%}; "
            f"{s['index with search data'] / s['index']:.1f}× the index without).",
        ]
    if "warm" in r:
        lines.append(
            f"Floors: python -c pass {ms(r['warm']['python -c pass'])} ms, import click "
            f"{ms(r['warm']['import click'])} ms (with mofa-indexd running: "
            f"{ms(r['watcher']['import click'])} ms)."
        )
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--sessions", type=int, default=100_000)
    parser.add_argument("-a", "--agents", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs", type=int, default=7, help="runs per warm command (median)")
    parser.add_argument(
        "--cold-runs", type=int, default=3, help="rounds of cold builds and first searches"
    )
    parser.add_argument(
        "--delete", type=int, default=10_000, help="sessions to prune and to delete"
    )
    parser.add_argument("--delete-runs", type=int, default=3, help="runs of each deleting command")
    parser.add_argument("--word", default="refund", help="a one-word search")
    parser.add_argument("--phrase", default='"refund invoice delivery"', help="a phrase search")
    parser.add_argument("--part", choices=("all", "search", "delete"), default="all")
    parser.add_argument("--data", default=os.path.join(os.path.dirname(HERE), "bench-data"))
    args = parser.parse_args()

    root, tree = tree_for(args)
    data = os.path.join(args.data, f"find-{args.sessions}")
    os.makedirs(data, exist_ok=True)
    results_path = os.path.join(data, "find-results.json")
    results: dict = {}
    if os.path.exists(results_path):
        with open(results_path) as handle:
            results = json.load(handle)["results"]
    # The plan sets the files' mtimes: before any index is built on the tree, never after.
    if args.part in ("all", "delete"):
        deletion_plan(root, data, args.delete)
    if args.part in ("all", "search"):
        measure_search(root, data, args, results)
    if args.part in ("all", "delete"):
        measure_delete(root, data, args, results)
    with open(results_path, "w") as handle:
        json.dump({"tree": tree, "args": vars(args), "results": results}, handle, indent=2)
    report(results, tree, args)


if __name__ == "__main__":
    main()
