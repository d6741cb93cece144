#!/usr/bin/env python3
"""Time `mofa session import --from-dir` of a generated tree into an empty root, with and
without mofa-indexd watching that root: bulk writes must not pay a handshake per session.

    python scripts/generate_sessions.py --root /tmp/s10k -n 10000 -a 50 --realistic
    python scripts/bench_import.py --source /tmp/s10k --work /tmp/import-bench --runs 3

--code DIR runs another checkout's code (put first on PYTHONPATH), to compare with it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import time

from benchlib import Tools, code_env, code_tools, start_watcher, stop_started

LABELS = ("no watcher", "mofa-indexd")


def one_import(tools: Tools, source: str, work: str, watcher: bool, env: dict) -> float:
    """Seconds `import --from-dir source` took into an empty root under `work` (emptied), with
    or without mofa-indexd watching that root."""
    root, index = os.path.join(work, "root"), os.path.join(work, "index.sqlite")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(root)
    env = dict(env, MOFA_AUTOSTART="0", XDG_CACHE_HOME=os.path.join(work, "cache"))
    env.pop("MOFA_SESSIONS_DIR", None)
    env.pop("MOFA_INDEX_PATH", None)
    command = [*tools.mofa, "--sessions-dir", root, "--index", index, "session"]
    # The index exists before the timing, as it does for a user.
    subprocess.run([*command, "list"], env=env, check=True, capture_output=True)
    process = start_watcher(tools.indexd, root, index, env) if watcher else None
    try:
        started = time.perf_counter()
        done = subprocess.run(
            [*command, "import", "--from-dir", source], env=env, capture_output=True, text=True
        )
        elapsed = time.perf_counter() - started
    finally:
        if process is not None:
            stop_started(process)
    if done.returncode != 0:
        raise RuntimeError(f"import --from-dir {source} failed:\n{done.stderr}")
    return elapsed


def import_times(tools: Tools, source: str, work: str, runs: int, env: dict) -> dict:
    """Each label's seconds over `runs` rounds, the two alternating so that both meet the same
    machine load."""
    times: dict[str, list[float]] = {label: [] for label in LABELS}
    for _ in range(runs):
        for label in LABELS:
            times[label].append(one_import(tools, source, work, label == "mofa-indexd", env))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--source", required=True, help="a files root to import")
    parser.add_argument("--work", required=True, help="scratch directory (emptied)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--code", help="a checkout whose code to run instead")
    args = parser.parse_args()
    env = code_env(dict(os.environ), args.code)
    times = import_times(code_tools(), args.source, args.work, args.runs, env)
    medians = {label: statistics.median(values) for label, values in times.items()}
    print(
        json.dumps(
            {
                "source": args.source,
                "runs": args.runs,
                "seconds": times,
                "median_s": medians,
                "ratio": medians["mofa-indexd"] / medians["no watcher"],
            }
        )
    )


if __name__ == "__main__":
    main()
