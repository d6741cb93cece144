"""What the benchmark scripts share: the programs they run (a regular install of the checkout in
a venv beside the data, or the running interpreter's), generated trees (made once, kept),
timing (medians of interleaved runs) and mofa-indexd's start and stop."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.dirname(HERE)
if CHECKOUT not in sys.path:  # indexer.watch.lock: the watcher's record as this checkout writes it
    sys.path.insert(0, CHECKOUT)
# What a regular install of the checkout needs from it (a fresh copy each run: a stale build/
# directory in the checkout could otherwise put deleted modules into the wheel).
PACKAGE_FILES = ("setup.py", "setup.cfg", "README.md", "mofa", "indexer")
MOFA_MAIN = "from mofa.cli import main; main()"
INDEXD_MAIN = "from indexer.watch.daemon import main; main()"


class Tools(NamedTuple):
    """The interpreter and the two commands' argv prefixes a benchmark runs."""

    python: str
    mofa: list[str]
    indexd: list[str]


def installed_tools(python: str = sys.executable) -> Tools:
    """The console scripts installed beside `python`."""
    bin_dir = os.path.dirname(python)
    return Tools(python, [os.path.join(bin_dir, "mofa")], [os.path.join(bin_dir, "mofa-indexd")])


def code_tools(python: str = sys.executable) -> Tools:
    """`python -c` of the two entry points: with another checkout first on PYTHONPATH
    (code_env), that checkout's code runs."""
    return Tools(python, [python, "-c", MOFA_MAIN], [python, "-c", INDEXD_MAIN])


def code_env(env: dict[str, str], code: str | None) -> dict[str, str]:
    return dict(env, PYTHONPATH=code) if code else env


def use_venv(data: str) -> Tools:
    """Make (once) `<data>/venv` with the dependencies, then install the checkout into it, as
    `pip install .` does for a user: not editable, bytecode compiled at install time."""
    venv = os.path.join(os.path.abspath(data), "venv")
    tools = installed_tools(os.path.join(venv, "bin", "python"))
    pip = [tools.python, "-m", "pip", "--disable-pip-version-check", "-q"]
    ready = os.path.join(venv, ".mofa-bench-dependencies-2")  # 2: with the bench extra
    if not os.path.exists(ready):
        print(f"making the bench venv {venv} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", venv], check=True)
        # The dependencies come from the checkout's own setup.cfg (a first install of it, with
        # the bench extra: wordfreq for realistic text); setuptools and wheel so that later
        # installs build without an isolated environment.
        subprocess.run([*pip, "install", "setuptools", "wheel"], check=True)
        with staged_checkout(data) as source:
            subprocess.run([*pip, "install", f"{source}[bench]"], check=True)
        with open(ready, "w") as handle:
            handle.write("dependencies installed\n")
    with staged_checkout(data) as source:
        subprocess.run(
            [*pip, "install", "--force-reinstall", "--no-deps", "--no-build-isolation", source],
            check=True,
        )
    where = subprocess.run(
        [tools.python, "-c", "import mofa, indexer; print(mofa.__file__); print(indexer.__file__)"],
        cwd="/",
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    site = os.path.join(venv, "lib")
    if not all(path.startswith(site) for path in where):
        sys.exit(f"the bench venv imports mofa from {where}, not from its own install")
    # pip compiles at install time even with PYTHONDONTWRITEBYTECODE; make sure of it.
    package_dirs = [os.path.dirname(path) for path in where]
    subprocess.run([tools.python, "-m", "compileall", "-q", *package_dirs], check=True)
    return tools


class staged_checkout:
    """A temporary copy of what the package is built from (the working tree as it is)."""

    def __init__(self, data: str):
        self.data = data

    def __enter__(self) -> str:
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


class TreeSpec(NamedTuple):
    """What generate_sessions.py makes: the same spec gives the same tree."""

    sessions: int
    agents: int = 200
    seed: int = 42
    jsonl_fraction: float = 0.0
    realistic: bool = True

    def name(self) -> str:
        text = "realistic" if self.realistic else "synthetic"
        return f"sessions-{self.sessions}-{self.agents}-{self.seed}-{self.jsonl_fraction}-{text}"


def generate_tree(python: str, data: str, spec: TreeSpec, jobs: int | None = None) -> tuple:
    """(root, summary) of the tree `spec` under `data`: generated on first use (by `jobs`
    processes, one per core by default), then kept. The root is a real path: find does not
    descend a symlink."""
    root = os.path.join(data, spec.name())
    summary_path = root + ".json"
    if not os.path.exists(summary_path):
        shutil.rmtree(root, ignore_errors=True)
        print(f"generating {spec} in {root} ...", file=sys.stderr)
        argv = [python, os.path.join(HERE, "generate_sessions.py"), "--root", root]
        argv += ["-n", str(spec.sessions), "-a", str(spec.agents), "--seed", str(spec.seed)]
        argv += ["--jsonl-fraction", str(spec.jsonl_fraction), "-j", str(jobs or os.cpu_count())]
        if spec.realistic:
            argv.append("--realistic")
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
            sys.exit(lines[-1])
        summary = json.loads(done.stdout)
        summary["generated_per_second"] = spec.sessions / (time.perf_counter() - started)
        with open(summary_path, "w") as handle:
            json.dump(summary, handle)
    with open(summary_path) as handle:
        return os.path.realpath(root), json.load(handle)


def tree_bytes(root: str) -> int:
    """The sessions' bytes: the sum of the sizes of the tree's files."""
    total = 0
    for directory, _, names in os.walk(root):
        for name in names:
            total += os.stat(os.path.join(directory, name)).st_size
    return total


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


def timed(argv: list[str], env: dict, stdin: str | None = None) -> float:
    """Seconds `argv` took; an error (its stderr) if it failed."""
    started = time.perf_counter()
    result = subprocess.run(
        argv,
        env=env,
        input=None if stdin is None else stdin.encode(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {result.returncode}:\n"
            f"{result.stderr.decode(errors='replace')}"
        )
    return elapsed


def medians(commands: dict, env: dict, runs: int) -> dict:
    """Each command's median over `runs` rounds, every round in a new random order (seeded:
    the same orders each run). Rotating one order made each command always follow the same one:
    the listing that followed the largest agent's stat scan measured a few ms high every time.
    A command is an argv, or a function of no argument that returns the seconds it took."""
    samples: dict = {name: [] for name in commands}
    names = list(commands)
    order = random.Random(len(names) * 1000 + runs)
    for _ in range(runs):
        order.shuffle(names)
        for name in names:
            command = commands[name]
            samples[name].append(command() if callable(command) else timed(command, env))
    return {name: statistics.median(values) for name, values in samples.items()}


def peak_rss_kb(argv: list[str], env: dict) -> int:
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(process.pid, 0)
    return usage.ru_maxrss


def proc_field(pid: int, field: str) -> int:
    """A field of /proc/PID/status in kB (VmRSS, VmHWM), 0 if absent."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_env(data: str, root: str, index: str) -> dict[str, str]:
    """The commands' environment: this root and index, without a watcher unless a measurement
    starts one (auto-start off), and the benchmark's own cache directory (where the
    one-watcher-per-root lock lives), so that a watcher someone runs on the same tree elsewhere
    neither blocks nor answers these commands."""
    return dict(
        os.environ,
        MOFA_SESSIONS_DIR=root,
        MOFA_INDEX_PATH=index,
        NO_COLOR="1",
        MOFA_AUTOSTART="0",
        XDG_CACHE_HOME=os.path.join(os.path.abspath(data), "cache"),
    )


def remove_index(path: str) -> None:
    """The index's own removal: the file, its -wal, -shm and -journal."""
    from indexer.index.database import remove_index_files

    remove_index_files(path)


def watcher_answering(index: str) -> bool:
    from indexer.watch.lock import watcher_record

    record = watcher_record(index)
    return record is not None and record.state == "answering"


def start_watcher(indexd: list[str], root: str, index: str, env: dict) -> subprocess.Popen:
    """mofa-indexd for `root`, once it says it is watching (its log beside the index)."""
    log_path = index + ".bench-indexd.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [*indexd, "--sessions-dir", root, "--index", index],
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


def stop_started(watcher: subprocess.Popen) -> None:
    """Stop a watcher this process started."""
    if watcher.poll() is None:
        watcher.send_signal(signal.SIGTERM)
        try:
            watcher.wait(timeout=30)
        except subprocess.TimeoutExpired:
            watcher.kill()
            watcher.wait()


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


BUSY = ("building", "behind")  # `index status`'s search data states while mofa-indexd works


def search_data_state(mofa: list[str], env: dict) -> str | None:
    """The search data's state as `index status -f json` gives it (None: it says nothing of it)."""
    done = subprocess.run(
        [*mofa, "session", "index", "status", "-f", "json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    state = json.loads(done.stdout).get("search_data")
    return state.get("state") if isinstance(state, dict) else None


def wait_while_building(mofa: list[str], env: dict, timeout: float = 3600) -> float:
    """Wait until mofa-indexd has no search data to build or read (`index status`), so that
    nothing it does in the background meets a timing; returns the seconds waited. A state of
    "none" just after the watcher's start is given a few seconds to turn into a build."""
    started = time.monotonic()
    while True:
        state = search_data_state(mofa, env)
        waited = time.monotonic() - started
        if state not in BUSY and (state != "none" or waited > 5):
            return waited
        if waited > timeout:
            raise RuntimeError(f"mofa-indexd's search data still {state} after {timeout:.0f} s")
        time.sleep(0.5)
