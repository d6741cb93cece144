#!/usr/bin/env python3
"""Bulk export against `cp -r` of the same files: generates a sessions tree (kept), then times
`cp -r`, `export --all -o DIR` (an archive), `export --all -o FILE.jsonl`, and `export -` of
every id, each in a fresh output place, interleaved (medians of --runs).

    python scripts/bench_bulk_export.py --work /tmp/bench -n 1000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

from benchlib import Tools, TreeSpec, bench_env, generate_tree, installed_tools, medians, timed

CP = "cp -r"
TARGET = "export --all -o DIR"


def export_commands(tools: Tools, root: str, work: str, env: dict) -> dict:
    """Each way of copying every session out of `root`, as a function of no argument that
    times one run into a new place under `work`."""
    subprocess.run(
        [*tools.mofa, "session", "list", "-n", "1"], env=env, check=True, capture_output=True
    )
    listed = subprocess.run(
        [*tools.mofa, "session", "list", "-f", "json"], env=env, check=True, capture_output=True
    ).stdout
    ids = "".join(item["session_id"] + "\n" for item in json.loads(listed))
    export = [*tools.mofa, "session", "export"]
    cases = {
        CP: lambda out: (["cp", "-r", root, out], None),
        TARGET: lambda out: ([*export, "--all", "-o", out], None),
        "export --all -o FILE.jsonl": lambda out: ([*export, "--all", "-o", f"{out}.jsonl"], None),
        "export - -o DIR (ids on stdin)": lambda out: ([*export, "-", "-o", out], ids),
    }
    places = iter(range(1 << 30))

    def run(case):
        out = os.path.join(work, f"out-{next(places)}")
        argv, stdin = case(out)
        return timed(argv, env, stdin)

    return {name: (lambda case=case: run(case)) for name, case in cases.items()}


def export_medians(tools: Tools, root: str, work: str, runs: int, env: dict) -> dict:
    """Median seconds of each way (export_commands), the runs interleaved; `work` is emptied."""
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    try:
        return medians(export_commands(tools, root, work, env), env, runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, help="a scratch directory")
    parser.add_argument("-n", "--sessions", type=int, default=1000)
    parser.add_argument("--jsonl-fraction", type=float, default=0.2)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    work = os.path.abspath(options.work)
    os.makedirs(work, exist_ok=True)
    tools = installed_tools()
    spec = TreeSpec(options.sessions, 20, 42, options.jsonl_fraction, realistic=False)
    root, _ = generate_tree(sys.executable, work, spec)
    env = bench_env(work, root, os.path.join(work, "index.db"))
    times = export_medians(tools, root, os.path.join(work, "out"), options.runs, env)
    print(f"{options.sessions} sessions, medians of {options.runs} runs")
    for name, seconds in times.items():
        print(f"{name:34} {seconds * 1000:8.0f} ms  {seconds / times[CP]:5.1f}x cp -r")


if __name__ == "__main__":
    main()
