#!/usr/bin/env python3
"""Bulk export against `cp -r` of the same files: generates a sessions tree, then times
`cp -r`, `export --all -o DIR` (an archive), `export --all -f jsonl -o FILE`, and `export -`
of every id, each in a fresh output place (best of --runs).

    python scripts/bench_bulk_export.py --work /tmp/bench -n 1000
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MOFA = str(Path(sys.executable).parent / "mofa")


def timed(command: list[str], env: dict, stdin: str | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, input=stdin, text=True, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, help="a scratch directory (emptied)")
    parser.add_argument("-n", "--sessions", type=int, default=1000)
    parser.add_argument("--jsonl-fraction", type=float, default=0.2)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    work = Path(options.work)
    shutil.rmtree(work, ignore_errors=True)
    root = work / "sessions"
    subprocess.run(
        [
            sys.executable,
            str(HERE / "generate_sessions.py"),
            "--root",
            str(root),
            "-n",
            str(options.sessions),
            "-a",
            "20",
            "--jsonl-fraction",
            str(options.jsonl_fraction),
        ],
        check=True,
        capture_output=True,
    )
    env = dict(os.environ, MOFA_SESSIONS_DIR=str(root), MOFA_AUTOSTART="0")
    env["MOFA_INDEX_PATH"] = str(work / "index.db")
    subprocess.run([MOFA, "session", "list", "-n", "1"], env=env, check=True, capture_output=True)
    ids = subprocess.run(
        [MOFA, "session", "list", "-f", "json"], env=env, check=True, capture_output=True
    ).stdout
    import json

    id_lines = "".join(item["session_id"] + "\n" for item in json.loads(ids))
    cases = {
        "cp -r": lambda out: ["cp", "-r", str(root), str(out)],
        "export --all -o DIR": lambda out: [MOFA, "session", "export", "--all", "-o", str(out)],
        "export --all -o FILE.jsonl": lambda out: [
            MOFA,
            "session",
            "export",
            "--all",
            "-o",
            f"{out}.jsonl",
        ],
        "export - -o DIR (ids on stdin)": lambda out: [
            MOFA,
            "session",
            "export",
            "-",
            "-o",
            str(out),
        ],
    }
    best = {}
    for name, command in cases.items():
        times = []
        for run in range(options.runs):
            out = work / f"out-{len(best)}-{run}"
            stdin = id_lines if "stdin" in name else None
            times.append(timed(command(out), env, stdin))
        best[name] = min(times)
    base = best["cp -r"]
    print(f"{options.sessions} sessions, {sum(1 for _ in root.rglob('*'))} entries")
    for name, seconds in best.items():
        print(f"{name:34} {seconds * 1000:8.0f} ms  {seconds / base:5.1f}x cp -r")


if __name__ == "__main__":
    main()
