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
import signal
import statistics
import subprocess
import sys
import time

MOFA = "from mofa.cli import main; main()"
INDEXD = "from indexer.watch.daemon import main; main()"


def _env(code: str | None, work: str) -> dict[str, str]:
    env = dict(os.environ, MOFA_AUTOSTART="0", XDG_CACHE_HOME=os.path.join(work, "cache"))
    if code:
        env["PYTHONPATH"] = code
    return env


def _watch(root: str, index: str, env: dict[str, str]) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", INDEXD, "--sessions-dir", root, "--index", index, "-v"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if "watching" in line:
            break
    else:
        raise SystemExit(f"mofa-indexd exited: {process.wait()}")
    return process


def one_import(source: str, work: str, watcher: bool, code: str | None) -> float:
    root, index = os.path.join(work, "root"), os.path.join(work, "index.sqlite")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(root)
    env = _env(code, work)
    subprocess.run(  # the index exists before the timing, as it does for a user
        [sys.executable, "-c", MOFA, "--sessions-dir", root, "--index", index, "session", "list"],
        env=env,
        check=True,
        capture_output=True,
    )
    process = _watch(root, index, env) if watcher else None
    try:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", MOFA, "--sessions-dir", root, "--index", index]
            + ["session", "import", "--from-dir", source],
            env=env,
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - started
    finally:
        if process is not None:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=60)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--source", required=True, help="a files root to import")
    parser.add_argument("--work", required=True, help="scratch directory (emptied)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--code", help="a checkout whose code to run instead")
    args = parser.parse_args()
    times: dict[str, list[float]] = {"no watcher": [], "mofa-indexd": []}
    for _ in range(args.runs):  # alternate, so that both meet the same machine load
        for label in times:
            times[label].append(
                one_import(args.source, args.work, label == "mofa-indexd", args.code)
            )
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
