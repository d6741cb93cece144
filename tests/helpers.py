"""Writing session files the way agents and MoFA write them, for the tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from click.testing import CliRunner

from mofa.cli.commands import cli

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "sessions"


def message(role: str, content, timestamp: str | None = "2024-02-28T10:30:05Z", **extra) -> dict:
    item = {"role": role, "content": content}
    if timestamp is not None:
        item["timestamp"] = timestamp
    item.update(extra)
    return item


def write_session(
    root: Path, agent: str, name: str, messages=None, created_at="2024-02-28T10:30:00Z", **fields
) -> Path:
    document = {}
    if created_at is not None:
        document["created_at"] = created_at
    document["metadata"] = fields.pop("metadata", {"agent_id": agent, "user_id": "user-456"})
    document["messages"] = [message("user", "Hello")] if messages is None else messages
    document.update(fields)
    path = root / agent / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path


def mofa_file_stem(key: str) -> str:
    """MoFA's file name for a session key, without `.jsonl`: every character that is not a
    Unicode letter or digit, `-`, `:` or `_` becomes `_` (reference/mofa-jsonl-format.md)."""
    return "".join(char if char.isalnum() or char in "-:_" else "_" for char in key)


def _chrono_fraction(nanos: int) -> str:
    """chrono's fraction: none, or 3, 6 or 9 digits, the fewest that hold the value."""
    if nanos == 0:
        return ""
    if nanos % 1_000_000 == 0:
        return f".{nanos // 1_000_000:03d}"
    if nanos % 1_000 == 0:
        return f".{nanos // 1_000:06d}"
    return f".{nanos:09d}"


def _utc_seconds(epoch_ns: int) -> tuple[str, int]:
    seconds, nanos = divmod(epoch_ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S"), nanos


def mofa_header_time(epoch_ns: int) -> str:
    """A header time as MoFA writes it (chrono's to_rfc3339): `+00:00`, 0/3/6/9 fraction digits."""
    seconds, nanos = _utc_seconds(epoch_ns)
    return f"{seconds}{_chrono_fraction(nanos)}+00:00"


def mofa_message_time(epoch_ns: int) -> str:
    """A message time as MoFA writes it (chrono's serde): `Z`, usually nine fraction digits."""
    seconds, nanos = _utc_seconds(epoch_ns)
    return f"{seconds}{_chrono_fraction(nanos)}Z"


def ns(text: str) -> int:
    """Epoch nanoseconds of `YYYY-MM-DDTHH:MM:SS[.fffffffff]` (UTC), for writing times exactly."""
    whole, _, fraction = text.partition(".")
    moment = datetime.fromisoformat(whole).replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000 + int((fraction + "000000000")[:9])


def write_jsonl(
    root: Path,
    key: str | None,
    messages=None,
    metadata=None,
    file_stem=None,
    created_at="2024-02-28T10:30:00.123+00:00",
    extra_lines=(),
    updated_at=None,
    header_extra=None,
    sort_header=False,
) -> Path:
    """A MoFA session file exactly as MoFA writes it: a compact header line `{"key",
    "created_at", "updated_at", "metadata"}`, one compact `{"role", "content", "timestamp"}`
    line per message, lines joined by `\n` with no trailing newline, in `<root>/<file>.jsonl`
    where the file name is MoFA's sanitized key (unless `file_stem` says otherwise).

    `metadata` may be any JSON value (default `{}`); `extra_lines` are written as given;
    `sort_header` writes the header's keys sorted, as some serde_json builds do."""
    header = {}
    if key is not None:
        header["key"] = key
    if created_at is not None:
        header["created_at"] = created_at
    header["updated_at"] = updated_at or created_at
    header["metadata"] = {} if metadata is None else metadata
    header.update(header_extra or {})
    if sort_header:
        header = dict(sorted(header.items()))
    lines = [_compact(header)]
    for item in (
        messages
        if messages is not None
        else [message("user", "Hi", "2024-02-28T10:30:05.500000000Z")]
    ):
        lines.append(_compact(item))
    lines.extend(extra_lines)
    path = root / f"{file_stem if file_stem is not None else mofa_file_stem(key)}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("\n".join(lines).encode("utf-8"))
    return path


def _compact(value) -> str:
    """serde_json's form: no spaces, non-ASCII written as is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def run(*args, input=None, env=None, color=False):
    """`mofa ARGS` through click's runner (stdout and stderr kept apart)."""
    return CliRunner().invoke(
        cli, list(args), input=input, env=env, color=color, catch_exceptions=False
    )


def run_installed(*args, input=None, env=None, timeout=120, script="mofa", **kwargs):
    """The installed console script as a subprocess, as users run it (text=False: bytes)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    kwargs.setdefault("text", True)
    return subprocess.run(
        [str(BIN / script), *args],
        input=input,
        env=full_env,
        capture_output=True,
        timeout=timeout,
        **kwargs,
    )


class HeadRun(NamedTuple):
    first: str | bytes  # the first line of stdout, read before the pipe was closed
    returncode: int
    stderr: str | bytes


def run_then_close_stdout(*args, text=True, timeout=60, script="mofa") -> HeadRun:
    """The installed console script with its stdout closed after the first line, as
    `| head -n 1` does; it must then end by itself."""
    process = subprocess.Popen(
        [str(BIN / script), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=text
    )
    try:
        first = process.stdout.readline()
        process.stdout.close()
        code = process.wait(timeout=timeout)
        stderr = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
    return HeadRun(first, code, stderr)


def listed_ids(result) -> list[str]:
    return [item["session_id"] for item in json.loads(result.stdout)]


class TerminalRun(NamedTuple):
    returncode: int
    output: str  # what the terminal showed: stdout and stderr as written


def run_in_terminal(*args, env=None, columns=80, lines=24, timeout=60, script="mofa"):
    """The installed console script with its standard streams on a pseudo-terminal of
    `columns` x `lines`, as a person runs it; returns what the terminal showed."""
    import fcntl
    import pty
    import select
    import struct
    import termios
    import time

    full_env = dict(os.environ)
    full_env.pop("COLUMNS", None)
    full_env.pop("LINES", None)
    full_env.update(env or {})
    main, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    process = subprocess.Popen(
        [str(BIN / script), *args],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=full_env,
        start_new_session=True,
    )
    os.close(secondary)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.1)
            if ready:
                try:
                    data = os.read(main, 65536)
                except OSError:  # EIO: every writer of the terminal is gone
                    break
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None and not select.select([main], [], [], 0.2)[0]:
                break  # it ended and wrote nothing more
        returncode = process.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
            process.wait()
        os.close(main)
    return TerminalRun(
        returncode, b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    )
