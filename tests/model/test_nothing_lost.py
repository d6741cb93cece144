"""Nothing is ever lost: a model-based test of every command that writes into, or deletes
from, a files root.

Hypothesis drives random sequences of what agents and users do to a real root: agents write
new sessions in both layouts (`<root>/<agent>/<session>.json` and MoFA's `<root>/<file>.jsonl`)
and append messages to them, users rename and move files and agent directories, and run
`delete` (full id, short id, several ids, `-` on stdin), `prune --before ... --archive DIR
--force`, `export -f json -o FILE` and `import` of those exports (with and without
`--replace`), with and without a running mofa-indexd (started, and stopped with SIGTERM).
Symlinks are planted where a careless writer would follow them (an agent directory, an
entry of the archive directory). Every command runs as a real process of the installed
console script, as users run it.

After every step:
- every session file ever written is in the root, byte for byte, unless the test deleted or
  pruned it, or the agent itself overwrote or moved it (the model: path -> latest bytes);
- every pruned session is in the archive (DESIGN "Archives"): a `manifest.jsonl` line names
  its id, its file and the file's sha256, and the file holds its exact json export; no file
  in the archive directory is ever replaced;
- `mofa session list -f json` equals a scan of the root made here from DESIGN's rules (where
  sessions live, ids, which file wins an id, derived fields, order);
- nothing outside the root, the archive directories and the test's own export directory
  changed (a sibling tree, a decoy file next to the root, the home directory).

The default run is bounded for CI (about a minute). A longer run:

    MOFA_MODEL_EXAMPLES=2000 MOFA_MODEL_STEPS=40 \\
        .venv/bin/python -m pytest -p no:cacheprovider tests/model/test_nothing_lost.py
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.daemon_helpers import RunningDaemon
from tests.helpers import BIN, mofa_file_stem

EXAMPLES = int(os.environ.get("MOFA_MODEL_EXAMPLES", "4"))
STEPS = int(os.environ.get("MOFA_MODEL_STEPS", "20"))

# Small universes, so that random choices collide: archive names that two ids could share
# (`agent.1`/`agent_1`, `telegram:chat-1`/`slack:chat-1`), one MoFA file name for two keys
# (`a/b`, `a.b`), one id for two files (`a:b` + `c` and `a` + `b:c`; a key equal to a
# per-agent id), short ids that name several sessions, an agent named like the root.
AGENTS = ["agent-001", "agent.1", "agent_1", "bot", "a", "a:b", "sessions"]
NAMES = ["s1", "chat-1", "c", "b:c", "x.y"]
KEYS = [
    "telegram:chat-1",
    "slack:chat-1",
    "bot/chat-1.json",
    "a/b",
    "a.b",
    "user/42",
    "../escape",
    "café:naïve",
    "agent-001:s1",
    "bot:c",
    " ",
    "c",
]
# A MoFA file may have no `key` in its header: its id is then its file name.
KEYLESS_STEMS = ["chat:1", "plain", "a_b"]
JSONL_RENAMES = ["renamed", "zz-moved", "a_b", "telegram:chat-1", "plain"]
AGENT_IDS = [None, "bot", 7]

TIMES = [
    "2024-01-01T09:00:00Z",
    "2024-01-02T10:30:00.5+00:00",
    "2024-01-02T23:59:59.999999999Z",
    "2024-01-03T01:00:00+02:00",
    "2024-01-04T12:00:00.123456Z",
    "2024-01-05T08:00:00Z",
]
CUTOFFS = ["2024-01-02", "2024-01-03", "2024-01-04T12:00:00Z", "2024-01-06"]
EXACT_NUMBERS = ["7", "0.1", "0.10000000000000000555", "1e400", "1e-400", "-0.0", "1" + "0" * 25]

text = st.sampled_from(["Hello", "héllo wörld", 'a "quoted"\nline', "", "tab\there", "🙂"])


class Raw(str):
    """A number written as this exact text."""


def dumps(value, indent: int | None = None, level: int = 0) -> str:
    """JSON as agents write it, numbers (Raw, Decimal) as their own text."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        parts = [
            json.dumps(key, ensure_ascii=False)
            + (": " if indent else ":")
            + dumps(item, indent, level + 1)
            for key, item in value.items()
        ]
        return _joined("{", parts, "}", indent, level)
    if isinstance(value, list):
        return _joined("[", [dumps(item, indent, level + 1) for item in value], "]", indent, level)
    return json.dumps(value, ensure_ascii=False)


def _joined(opening: str, parts: list[str], closing: str, indent: int | None, level: int) -> str:
    if not parts:
        return opening + closing
    if not indent:
        return opening + ",".join(parts) + closing
    inner = "\n" + " " * (indent * (level + 1))
    return opening + inner + ("," + inner).join(parts) + "\n" + " " * (indent * level) + closing


def loads(data: bytes | str):
    """JSON with every number as its exact value (the promise: no rounding, no Infinity)."""
    return json.loads(data, parse_float=Decimal, parse_int=Decimal)


@st.composite
def messages(draw, count=None):
    count = draw(st.integers(0, 3)) if count is None else count
    items = []
    for _ in range(count):
        item = {"role": draw(st.sampled_from(["user", "assistant", "system", "tool"]))}
        item["content"] = draw(text)
        if draw(st.booleans()):
            item["timestamp"] = draw(st.sampled_from(TIMES))
        items.append(item)
    return items


@st.composite
def metadata(draw, agent_id=None):
    meta: dict = {}
    if agent_id is not None:
        meta["agent_id"] = agent_id
    if draw(st.booleans()):
        meta["user_id"] = draw(st.sampled_from(["user-456", "u2"]))
    if draw(st.booleans()):
        meta["score"] = Raw(draw(st.sampled_from(EXACT_NUMBERS)))
    if draw(st.booleans()):
        meta["tags"] = ["billing"]
    return meta


# -- the scan: DESIGN's rules, written here independently of the product ------------------


def is_safe_name(part: str) -> bool:
    if not part or part.startswith(".") or "/" in part or "\\" in part:
        return False
    return all(not (ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0) for c in part)


def parse_time(value) -> tuple | None:
    """(UTC datetime to the second, nanoseconds) of an RFC 3339 time, else None."""
    if not isinstance(value, str) or len(value) < 20 or value[10] not in "Tt ":
        return None
    body, nanos = value[:19], 0
    rest = value[19:]
    if rest.startswith("."):
        digits = len(rest) - len(rest[1:].lstrip("0123456789")) - 1
        nanos = int((rest[1 : 1 + digits] + "000000000")[:9])
        rest = rest[1 + digits :]
    if rest in ("Z", "z"):
        offset = timedelta(0)
    elif len(rest) == 6 and rest[0] in "+-" and rest[3] == ":":
        sign = 1 if rest[0] == "+" else -1
        offset = sign * timedelta(hours=int(rest[1:3]), minutes=int(rest[4:6]))
    else:
        return None
    try:
        moment = datetime.fromisoformat(body) - offset
    except ValueError:
        return None
    return moment, nanos


class Found(NamedTuple):
    """One session file as DESIGN reads it."""

    session_id: str
    path: str  # relative to the root
    rank: tuple
    agent: str
    name: str
    created: tuple  # (datetime, nanos)
    message_count: int
    status: str
    export: dict


def read_session(path: str, data: bytes, mtime_ns: int) -> Found | None:
    """A session file of the root by DESIGN "Where sessions live", None when it is none."""
    parts = path.split("/")
    if len(parts) == 2:
        agent, file = parts
        if not (is_safe_name(agent) and file.endswith(".json")):
            return None
        name = file[: -len(".json")]
        if not is_safe_name(name):
            return None
        document = loads(data)
        session_id = f"{agent}:{name}"
        items = document.get("messages", [])
        export = document if "session_id" in document else {"session_id": session_id, **document}
        rank = (0, os.fsencode(path))
        header = document
    elif len(parts) == 1:
        file = parts[0]
        if file.startswith(".") or not file.endswith(".jsonl") or file == ".jsonl":
            return None
        stem = file[: -len(".jsonl")]
        lines = [line for line in data.decode().split("\n") if line.strip()]
        header = loads(lines[0]) if lines else {}
        items = [loads(line) for line in lines[1:]]
        key = header.get("key")
        session_id = key if isinstance(key, str) and key else stem
        meta = header.get("metadata") if isinstance(header.get("metadata"), dict) else {}
        head, sep, tail = session_id.partition(":")
        agent = meta.get("agent_id")
        if isinstance(agent, Decimal):
            agent = str(agent)
        if not isinstance(agent, str) or not agent:
            agent = head
        name = tail if sep else session_id
        export = dict(header) if "session_id" in header else {"session_id": session_id, **header}
        export["messages"] = items
        rank = (1 if mofa_file_stem(session_id) == stem else 2, os.fsencode(path))
    else:
        return None
    created = parse_time(header.get("created_at"))
    if created is None and items:
        created = parse_time(items[0].get("timestamp"))
    if created is None:
        seconds, nanos = divmod(mtime_ns, 10**9)
        created = (datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None), nanos)
    status = header.get("status")
    if not (isinstance(status, str) and status):
        status = "active" if items else "empty"
    return Found(session_id, path, rank, agent, name, created, len(items), status, export)


def scan(files: dict[str, bytes], mtimes: dict[str, int]) -> dict[str, Found]:
    """The winner of every id (DESIGN "Session ids": the per-agent file over a JSONL header;
    among JSONL files the one whose name is the key's file name, else the first path)."""
    winners: dict[str, Found] = {}
    for path, data in files.items():
        found = read_session(path, data, mtimes.get(path, 0))
        if found is None:
            continue
        other = winners.get(found.session_id)
        if other is None or found.rank < other.rank:
            winners[found.session_id] = found
    return winners


def listing(winners: dict[str, Found]) -> list[dict]:
    """What `list -f json` prints for them: oldest first, ties by id."""
    rows = sorted(winners.values(), key=lambda found: (found.created, found.session_id))
    return [
        {
            "session_id": found.session_id,
            "created_at": found.created[0].strftime("%Y-%m-%d %H:%M:%S"),
            "message_count": found.message_count,
            "status": found.status,
        }
        for found in rows
    ]


def resolve(winners: dict[str, Found], text: str) -> Found | str:
    """The session an id names (DESIGN "Session ids"), else why not ('not found', 'ambiguous')."""
    if text in winners:  # any id `list` prints names its session, verbatim
        return winners[text]
    if ":" not in text:
        named = [found for found in winners.values() if found.name == text]
        if len(named) == 1:
            return named[0]
        if len(named) > 1:
            return "ambiguous"
    return "not found"


# -- the tree as it is on disk ------------------------------------------------------------


def read_tree(top: Path, skip: tuple[Path, ...] = ()) -> dict[str, object]:
    """Every entry under `top` (never following a symlink): relative path -> bytes of a file,
    ('link', target) of a symlink, ('dir',) of a directory."""
    entries: dict[str, object] = {}
    for directory, dirs, files in os.walk(top):
        here = Path(directory)
        if any(here == place or place in here.parents for place in skip):
            dirs[:] = []
            continue
        for name in dirs + files:
            path = here / name
            relative = str(path.relative_to(top))
            if path.is_symlink():
                entries[relative] = ("link", os.readlink(path))
            elif path.is_dir():
                if path not in skip:
                    entries[relative] = ("dir",)
            else:
                entries[relative] = path.read_bytes()
    return entries


def root_files(root: Path) -> tuple[dict[str, bytes], dict[str, int], set[str]]:
    """The regular files under the root, their mtimes, and every other entry but directories."""
    files, mtimes, others = {}, {}, set()
    for relative, value in read_tree(root).items():
        if isinstance(value, bytes):
            files[relative] = value
            mtimes[relative] = os.lstat(root / relative).st_mtime_ns
        elif value[0] == "link":
            others.add(relative)
    return files, mtimes, others


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Archived(NamedTuple):
    session_id: str
    file: Path
    sha256: str


class NothingLost(RuleBasedStateMachine):
    base: Path  # set by the test: where each example makes its directories

    def __init__(self):
        super().__init__()
        self.work = Path(tempfile.mkdtemp(dir=self.base))
        self.root = self.work / "sessions"
        self.root.mkdir()
        self.archive = self.work / "archive"
        self.exports = self.work / "exports"
        self.exports.mkdir()
        self.index = self.work / "index" / "sessions.db"
        # What must never change: a sibling tree, a decoy next to the root, the home directory.
        elsewhere = self.work / "elsewhere"
        (elsewhere / "bot").mkdir(parents=True)
        (elsewhere / "config.json").write_text('{"secret": true, "messages": []}')
        (elsewhere / "bot" / "s1.json").write_text('{"messages": []}')
        (self.work / "sessions.json").write_text('{"decoy": true}')
        (self.work / "root-link").symlink_to("sessions")
        for name in ("home", "cache"):
            (self.work / name).mkdir()
        self.env = dict(os.environ)
        for name in ("MOFA_STORE", "XDG_DATA_HOME", "MOFA_DEBUG"):
            self.env.pop(name, None)
        self.env.update(
            MOFA_SESSIONS_DIR=str(self.root),
            MOFA_INDEX_PATH=str(self.index),
            MOFA_AUTOSTART="0",
            HOME=str(self.work / "home"),
            XDG_CACHE_HOME=str(self.work / "cache"),
            NO_COLOR="1",
        )
        self.files: dict[str, bytes] = {}  # the model: what the root must hold
        self.archived: list[Archived] = []
        self.archive_dirs: set[Path] = set()
        self.exported: list[tuple[Path, str, dict]] = []
        self.hazards: set[str] = set()  # symlinks planted in the archive directory
        self.daemon: RunningDaemon | None = None
        self.outside = self._outside()
        self.log: list[str] = []

    def teardown(self):
        if self.daemon is not None:
            code = self.daemon.stop()
            self.daemon = None
            assert code == 0, "mofa-indexd did not stop cleanly"
        shutil.rmtree(self.work, ignore_errors=True)

    # -- helpers ---------------------------------------------------------------------------
    def mofa(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        self.log.append("mofa " + " ".join(map(repr, args)))
        result = subprocess.run(
            [str(BIN / "mofa"), *args],
            input=input,
            env=self.env,
            text=True,
            capture_output=True,
            timeout=120,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        for bad in ("Traceback", "internal error"):
            assert bad not in result.stderr, f"mofa {args}: {result.stderr}"
        return result

    def winners(self) -> dict[str, Found]:
        files, mtimes, _ = root_files(self.root)
        return scan(files, mtimes)

    def _outside(self) -> dict[str, object]:
        # The index and the watcher's files live in the index's directory and the cache.
        skip = (self.root, self.exports, self.index.parent, self.work / "cache")
        return read_tree(self.work, skip)

    def write(self, relative: str, data: bytes) -> None:
        """An agent writes a file in place, as agents and MoFA do (no rename)."""
        path = self.root / relative
        path.parent.mkdir(exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)
        self.files[relative] = data

    def session_files(self) -> list[str]:
        return sorted(self.files)

    # -- agents ----------------------------------------------------------------------------
    @rule(
        agent=st.sampled_from(AGENTS),
        name=st.sampled_from(NAMES),
        created=st.sampled_from([*TIMES, None]),
        items=messages(),
        meta=metadata(),
        status=st.sampled_from([None, "archived"]),
        indent=st.sampled_from([None, 2]),
    )
    def agent_writes_a_session(self, agent, name, created, items, meta, status, indent):
        if created is None and not any("timestamp" in item for item in items[:1]):
            created = TIMES[0]  # a created_at from the mtime would fall on today
        document: dict = {}
        if created is not None:
            document["created_at"] = created
        document["metadata"] = meta
        if status:
            document["status"] = status
        document["messages"] = items
        self.write(f"{agent}/{name}.json", (dumps(document, indent) + "\n").encode())

    @rule(
        key=st.sampled_from(KEYS + KEYLESS_STEMS),
        created=st.sampled_from(TIMES),
        items=messages(),
        agent_id=st.sampled_from(AGENT_IDS),
        data=st.data(),
    )
    def mofa_writes_a_session(self, key, created, items, agent_id, data):
        header: dict = {} if key in KEYLESS_STEMS else {"key": key}
        header.update(created_at=created, updated_at=created)
        header["metadata"] = data.draw(metadata(agent_id))
        stem = key if key in KEYLESS_STEMS else mofa_file_stem(key)
        lines = [dumps(header)] + [dumps(item) for item in items]
        self.write(f"{stem}.jsonl", "\n".join(lines).encode())

    @precondition(lambda self: self.files)
    @rule(data=st.data(), item=messages(count=1))
    def agent_appends_a_message(self, data, item):
        relative = data.draw(st.sampled_from(self.session_files()))
        old = self.files[relative]
        if relative.endswith(".jsonl"):
            new = old + (b"" if old.endswith(b"\n") else b"\n") + dumps(item[0]).encode()
            with open(self.root / relative, "ab") as handle:
                handle.write(new[len(old) :])
            self.files[relative] = new
            return
        document = loads(old)
        document.setdefault("messages", []).append(item[0])
        self.write(relative, (dumps(document, 2) + "\n").encode())

    @precondition(lambda self: self.files)
    @rule(data=st.data())
    def user_renames_a_file(self, data):
        relative = data.draw(st.sampled_from(self.session_files()))
        if "/" in relative:
            target = (
                f"{data.draw(st.sampled_from(AGENTS))}/{data.draw(st.sampled_from(NAMES))}.json"
            )
        else:
            target = f"{data.draw(st.sampled_from(JSONL_RENAMES))}.jsonl"
        if target == relative:
            return
        (self.root / target).parent.mkdir(exist_ok=True)
        os.rename(self.root / relative, self.root / target)  # replaces a file already there
        self.files[target] = self.files.pop(relative)

    @rule(data=st.data())
    def user_renames_an_agent_directory(self, data):
        agents = sorted(
            name
            for name in os.listdir(self.root)
            if (self.root / name).is_dir() and not (self.root / name).is_symlink()
        )
        free = [name for name in AGENTS if not os.path.lexists(self.root / name)]
        if not agents or not free:
            return
        old, new = data.draw(st.sampled_from(agents)), data.draw(st.sampled_from(free))
        os.rename(self.root / old, self.root / new)
        for relative in [path for path in self.files if path.startswith(old + "/")]:
            self.files[new + relative[len(old) :]] = self.files.pop(relative)

    # -- hazards ---------------------------------------------------------------------------
    @precondition(lambda self: not os.path.lexists(self.root / "evil"))
    @rule()
    def a_symlinked_agent_directory_appears(self):
        (self.root / "evil").symlink_to(self.work / "elsewhere")

    @rule(agent=st.sampled_from(["bot", "agent-001", "a", "telegram", "slack", "_"]))
    def a_symlink_appears_in_the_archive(self, agent):
        self.archive.mkdir(exist_ok=True)
        place = self.archive / agent
        if os.path.lexists(place):
            return
        place.symlink_to(self.work / "elsewhere" if agent != "a" else self.root / "a")
        self.hazards.add(agent)
        self.outside = self._outside()

    # -- commands --------------------------------------------------------------------------
    @precondition(lambda self: self.files)
    @rule(data=st.data(), how=st.sampled_from(["full", "short", "several", "stdin", "unknown"]))
    def delete(self, data, how):
        winners = self.winners()
        ids = sorted(winners)
        if how == "unknown" or not ids:
            texts = ["nobody:here"]
        else:
            count = 1 if how in ("full", "short") else data.draw(st.integers(1, 3))
            picked = [data.draw(st.sampled_from(ids)) for _ in range(count)]
            texts = []
            for session_id in picked:
                short = winners[session_id].name
                use_short = how == "short" or (how != "full" and data.draw(st.booleans()))
                texts.append(short if use_short and ":" not in short else session_id)
        if how == "stdin":
            result = self.mofa("session", "delete", "-", "--force", input="\n".join(texts) + "\n")
        else:
            result = self.mofa("session", "delete", *texts, "--force")
        going: dict[str, Found] = {}
        first_failure = None
        for text_id in texts:
            found = resolve(winners, text_id)
            if isinstance(found, str):
                first_failure = first_failure or found
            else:
                going[found.path] = found
        expected_status = 0 if first_failure is None else 1
        assert result.returncode == expected_status, (texts, first_failure, result.stderr)
        for path in going:
            del self.files[path]

    @rule(
        cutoff=st.sampled_from(CUTOFFS),
        where=st.sampled_from(["archive", "archive", "archive", "parent", "inside-root"]),
    )
    def prune(self, cutoff, where):
        directory = {
            "archive": self.archive,
            "parent": self.work,
            "inside-root": self.work / "root-link" / "old",
        }[where]
        eligible = self._eligible(cutoff)
        before = self._manifest(directory)
        result = self.mofa(
            "session", "prune", "--before", cutoff, "--archive", str(directory), "--force"
        )
        if where == "inside-root":
            assert result.returncode == 2, result.stderr
            return
        self._check_prune(directory, eligible, before, result)

    @precondition(lambda self: self.files)
    @rule(data=st.data(), item=messages(count=1), delay=st.sampled_from([0, 0.05, 0.15, 0.3]))
    def prune_while_an_agent_appends(self, data, item, delay):
        """DESIGN "Archives": a session written to while it is pruned is kept, never lost."""
        eligible = self._eligible(CUTOFFS[-1])
        if not eligible:
            return
        path = data.draw(st.sampled_from(sorted(eligible)))
        before = self._manifest(self.archive)
        args = ["session", "prune", "--before", CUTOFFS[-1], "--archive", str(self.archive)]
        self.log.append(f"mofa {args} --force, appending to {path} after {delay} s")
        process = subprocess.Popen(
            [str(BIN / "mofa"), *args, "--force"],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            time.sleep(delay)
            written = self._append_racing(path, item[0])
        finally:
            stdout, stderr = process.communicate(timeout=120)
        result = subprocess.CompletedProcess(args, process.returncode, stdout, stderr)
        for bad in ("Traceback", "internal error"):
            assert bad not in stderr, stderr
        files, _, _ = root_files(self.root)
        if written is None:  # pruned before the agent came: as any prune
            self._check_prune(self.archive, eligible, before, result)
            return
        if files.get(path) == written:  # kept, or written again after it went: in the root
            self.files[path] = written
            if path in eligible and path in files:
                eligible.pop(path)
                if result.returncode == 3:  # kept because it changed: reported, not lost
                    self._check_prune(self.archive, eligible, before, result, changed=1)
                    return
            self._check_prune(self.archive, eligible, before, result)
            return
        # Gone from the root: then what the agent wrote must be what was archived.
        found = read_session(path, written, 0)
        eligible[path] = found
        self.files[path] = written
        self._check_prune(self.archive, eligible, before, result)

    def _append_racing(self, relative: str, item: dict) -> bytes | None:
        """An agent adds a message while a command runs, writing the whole file beside it and
        renaming it into place (an in-place write racing an unlink could be lost by any tool).
        None: the file was gone before the agent read it."""
        path = self.root / relative
        try:
            old = path.read_bytes()
        except FileNotFoundError:
            return None
        if relative.endswith(".jsonl"):
            data = old + (b"" if old.endswith(b"\n") else b"\n") + dumps(item).encode()
        else:
            document = loads(old)
            document.setdefault("messages", []).append(item)
            data = (dumps(document, 2) + "\n").encode()
        temporary = path.parent / f".{path.name}.tmp"
        try:
            temporary.write_bytes(data)
            os.rename(temporary, path)
        except FileNotFoundError:  # its agent directory went with the session
            return None
        return data

    def _eligible(self, cutoff: str) -> dict[str, Found]:
        limit = parse_time(cutoff if "T" in cutoff else cutoff + "T00:00:00Z")
        return {found.path: found for found in self.winners().values() if found.created < limit}

    @staticmethod
    def _manifest(directory: Path) -> bytes:
        manifest = directory / "manifest.jsonl"
        return manifest.read_bytes() if manifest.is_file() else b""

    def _check_prune(
        self,
        directory: Path,
        eligible: dict[str, Found],
        before: bytes,
        result: subprocess.CompletedProcess,
        changed: int = 0,
    ) -> None:
        """Every eligible session pruned and archived (DESIGN "Archives"), or kept in the root;
        kept ones only where something stood in the way, and then reported (exit 3)."""
        self.archive_dirs.add(directory)
        files, _, _ = root_files(self.root)
        pruned = {path: found for path, found in eligible.items() if files.get(path) is None}
        kept = set(eligible) - set(pruned)
        # A symlink planted in the archive, or the root itself as DIR/<agent> when DIR is its
        # parent: the writer may not follow it; such a prune may refuse (exit 2, nothing
        # deleted) or keep those sessions (exit 3).
        hazard = (directory == self.archive and bool(self.hazards)) or (
            directory == self.work and any(f.agent == "sessions" for f in eligible.values())
        )
        if result.returncode == 2 and hazard:
            assert not pruned, (sorted(pruned), result.stderr)
        else:
            expected = 3 if (kept or changed) else 0
            assert result.returncode == expected, (sorted(kept), result.stderr)
            if not hazard:
                assert not kept, f"prune kept {sorted(kept)}, nothing in its way: {result.stderr}"
        after = self._manifest(directory)
        assert after.startswith(before), "manifest.jsonl was rewritten, not appended to"
        lines = [json.loads(line) for line in after[len(before) :].decode().splitlines() if line]
        by_id: dict[str, list[dict]] = {}
        for line in lines:
            assert {"id", "file", "sha256", "exported_at"} <= set(line), line
            by_id.setdefault(line["id"], []).append(line)
        for path, found in pruned.items():
            assert found.session_id in by_id, f"{found.session_id} pruned, not in the manifest"
            line = by_id[found.session_id][-1]
            file = directory / line["file"]
            assert file.resolve().is_relative_to(directory.resolve()), line
            assert not file.is_symlink() and file.is_file(), line
            data = file.read_bytes()
            assert sha256(data) == line["sha256"], line
            assert loads(data) == found.export, f"archive of {found.session_id} differs"
            if all(c.isalnum() or c in "-_" for c in found.agent) and found.agent.isascii():
                assert file.parent.name == found.agent or hazard, (line, found.agent)
            self.archived.append(Archived(found.session_id, file, line["sha256"]))
            del self.files[path]
        if eligible and result.returncode != 2:
            assert f"✓ Pruned {len(pruned)} session" in result.stderr, result.stderr

    @precondition(lambda self: self.files)
    @rule(data=st.data(), to_stdout=st.booleans())
    def export(self, data, to_stdout):
        winners = self.winners()
        if not winners:
            return
        found = winners[data.draw(st.sampled_from(sorted(winners)))]
        if to_stdout:
            result = self.mofa("session", "export", found.session_id, "-o", "-")
            assert result.returncode == 0, result.stderr
            output = self.exports / f"{len(self.exported)}.json"
            output.write_text(result.stdout)
        else:
            output = self.exports / f"{len(self.exported)}.json"
            result = self.mofa(
                "session", "export", found.session_id, "-f", "json", "-o", str(output)
            )
            assert result.returncode == 0, result.stderr
        assert loads(output.read_bytes()) == found.export, f"export of {found.session_id}"
        self.exported.append((output, found.session_id, found.export))

    @precondition(lambda self: self.exported)
    @rule(data=st.data(), replace=st.booleans())
    def import_an_export(self, data, replace):
        output, session_id, document = data.draw(st.sampled_from(self.exported))
        self._import(output, session_id, document, replace, crafted=False)

    @rule(
        session_id=st.sampled_from(
            [f"{a}:{n}" for a in ("bot", "evil", "agent.1") for n in ("s1", "config")]
            + KEYS
            + KEYLESS_STEMS
        ),
        with_key=st.booleans(),
        created=st.sampled_from(TIMES),
        items=messages(),
        replace=st.booleans(),
    )
    def import_a_written_export(self, session_id, with_key, created, items, replace):
        document: dict = {"session_id": session_id}
        if with_key:
            document["key"] = session_id
        document.update(created_at=created, metadata={"score": Raw("0.10000000000000000555")})
        document["messages"] = items
        output = self.exports / f"written-{len(self.exported)}.json"
        output.write_text(dumps(document, 2))
        self._import(output, session_id, loads(output.read_bytes()), replace, crafted=True)

    def _import(self, output: Path, session_id: str, document: dict, replace: bool, crafted):
        winners = self.winners()
        before, _, _ = root_files(self.root)
        result = self.mofa("session", "import", str(output), *(["--replace"] if replace else []))
        after, mtimes, _ = root_files(self.root)
        changed = {path for path in set(before) | set(after) if before.get(path) != after.get(path)}
        winner = winners.get(session_id)
        context = (session_id, replace, result.returncode, result.stderr, sorted(changed))
        if winner is not None and winner.export == document:
            assert result.returncode == 0 and not changed, context
            return
        if winner is not None and not replace:
            assert result.returncode == 1 and not changed, context
            return
        refusal = self._refusal(session_id, document)
        if result.returncode != 0:
            assert not changed, context
            assert refusal or crafted, ("refused for no reason DESIGN gives", *context)
            if refusal == "symlink":
                assert result.returncode == 2, context
            elif refusal == "collision":
                assert result.returncode == 1, context
            return
        assert refusal not in ("symlink", "collision"), (f"written despite {refusal}", *context)
        assert len(changed) == 1 and all(path in after for path in changed), context
        new = scan(after, mtimes).get(session_id)
        assert new is not None and new.export == document, ("not read back as written", *context)
        self.files = dict(after)

    def _refusal(self, session_id: str, document: dict) -> str | None:
        """Why DESIGN "Writing into a files root" refuses this import: "symlink" (exit 2) and
        "collision" (exit 1) must refuse; "maybe" where the writer may refuse or write to a
        place of its choice (read back, it must match); None when it may not refuse."""
        agent, sep, name = session_id.partition(":")
        per_agent = sep and is_safe_name(agent) and is_safe_name(name)
        if per_agent and document.get("key") != session_id:
            place = self.root / agent
            if place.is_symlink() or (os.path.lexists(place) and not place.is_dir()):
                return "symlink"
            return None
        stem = mofa_file_stem(session_id)
        if "key" not in document and stem != session_id:
            return "maybe"
        target = f"{stem}.jsonl"
        if target in self.files:
            holder = read_session(target, self.files[target], 0)
            if holder is None or holder.session_id != session_id:
                return "maybe" if per_agent else "collision"
        if per_agent and any(path.split("/")[0] == agent for path in self.files):
            return "maybe"  # a per-agent file may hold it, or shadow a MoFA file
        return None

    # -- the watcher -----------------------------------------------------------------------
    @precondition(lambda self: self.daemon is None)
    @rule()
    def start_the_watcher(self):
        self.log.append("start mofa-indexd")
        self.daemon = RunningDaemon(self.root, self.index, env=self.env)
        self.daemon.wait_for_log("watching")

    @precondition(lambda self: self.daemon is not None)
    @rule()
    def stop_the_watcher(self):
        self.log.append("stop mofa-indexd")
        daemon, self.daemon = self.daemon, None
        assert daemon.stop() == 0, daemon.drain()

    # -- after every step ------------------------------------------------------------------
    @invariant()
    def every_session_is_in_the_root_or_an_archive(self):
        files, _, _ = root_files(self.root)
        missing = sorted(set(self.files) - set(files))
        extra = sorted(set(files) - set(self.files))
        differs = sorted(p for p in set(files) & set(self.files) if files[p] != self.files[p])
        assert not (missing or extra or differs), (
            f"root differs from the model: missing {missing}, unexpected {extra}, changed {differs}"
        )
        for item in self.archived:
            assert item.file.is_file() and not item.file.is_symlink(), item
            assert sha256(item.file.read_bytes()) == item.sha256, f"archive replaced: {item}"

    @invariant()
    def nothing_outside_changed(self):
        now = self._outside()
        for path, value in self.outside.items():
            assert path in now, f"{path} outside the root is gone"
            if path.endswith("manifest.jsonl") and isinstance(value, bytes):
                assert now[path].startswith(value), f"{path} rewritten"
            else:
                assert now[path] == value, f"{path} outside the root changed"
        for path in set(now) - set(self.outside):
            place = self.work / path
            assert any(
                place == directory or directory in place.parents for directory in self.archive_dirs
            ), f"{path} appeared outside the root and the archive"
            assert not place.resolve().is_relative_to(self.root.resolve()), path
        self.outside = now

    @invariant()
    def list_equals_a_scan(self):
        result = self.mofa("session", "list", "-f", "json")
        assert result.returncode == 0, result.stderr
        expected = listing(self.winners())
        assert json.loads(result.stdout) == expected, (
            f"list differs from the files:\n{result.stdout}\nexpected {expected}"
        )


def test_nothing_is_lost(tmp_path):
    NothingLost.base = tmp_path
    run_state_machine_as_test(
        NothingLost,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
