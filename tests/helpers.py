"""Writing session files the way agents and MoFA write them, for the tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from mofa.cli.commands import cli

BIN = Path(sys.executable).parent


def message(role: str, content, timestamp: str | None = "2024-02-28T10:30:05Z", **extra) -> dict:
    item = {"role": role, "content": content}
    if timestamp is not None:
        item["timestamp"] = timestamp
    item.update(extra)
    return item


def write_session(root: Path, agent: str, name: str, messages=None, created_at="2024-02-28T10:30:00Z",
                  **fields) -> Path:
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


def write_jsonl(root: Path, key: str | None, messages=None, metadata=None, file_stem=None,
                created_at="2024-02-28T10:30:00.123+00:00", extra_lines=()) -> Path:
    """A MoFA session file: a header line, then one message per line."""
    header = {"created_at": created_at, "updated_at": created_at, "metadata": metadata or {}}
    if key is not None:
        header = {"key": key, **header}
    lines = [json.dumps(header)]
    for item in messages if messages is not None else [message("user", "Hi", "2024-02-28T10:30:05.5+00:00")]:
        lines.append(json.dumps(item, ensure_ascii=False))
    lines.extend(extra_lines)
    path = root / f"{file_stem or key}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(*args, input=None, env=None, color=False):
    """`mofa ARGS` through click's runner (stdout and stderr kept apart)."""
    return CliRunner().invoke(cli, list(args), input=input, env=env, color=color,
                              catch_exceptions=False)


def run_installed(*args, input=None, env=None, timeout=120, script="mofa", **kwargs):
    """The installed console script as a subprocess, as users run it."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([str(BIN / script), *args], input=input, env=full_env, text=True,
                          capture_output=True, timeout=timeout, **kwargs)


def listed_ids(result) -> list[str]:
    return [item["session_id"] for item in json.loads(result.stdout)]
