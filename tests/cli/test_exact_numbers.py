"""`show` and `export` write every number exactly as stored, at any depth of nesting."""

from __future__ import annotations

import json
import sys
import threading
from decimal import Decimal

import pytest

from tests.helpers import run, run_installed

NUMBERS = {
    "huge": "1e400",
    "tiny": "-1e-400",
    "precise": "0.10000000000000000555",
    "big_int": "123456789012345678901234567890",
    "negative_zero": "-0.0",
    "upper": "1E+2",
    "plain": "2.5",
}


def _strict(constant):
    raise AssertionError(f"not strict JSON: {constant}")


def _document_text() -> str:
    fields = ", ".join(f'"{key}": {text}' for key, text in NUMBERS.items())
    return (
        f'{{"created_at": "2024-02-28T10:30:00Z", "metadata": {{"score": 1e400}},'
        f' "numbers": {{{fields}}}, "messages": [{{"role": "tool", "content": {{{fields}}},'
        f' "timestamp": "2024-02-28T10:30:05Z"}}]}}'
    )


@pytest.fixture
def numbers_session(root):
    (root / "a").mkdir()
    (root / "a" / "n.json").write_text(_document_text())
    return root


def _exact(text: str):
    return json.loads(text, parse_float=Decimal, parse_constant=_strict)


@pytest.mark.parametrize(
    "command", [["export", "a:n", "-o", "-", "-f", "json"], ["show", "a:n", "-f", "json"]]
)
def test_json_keeps_every_number_exactly(numbers_session, command):
    result = run_installed("session", *command)
    assert result.returncode == 0, result.stderr
    document = _exact(result.stdout)
    expected = {key: _exact(text) for key, text in NUMBERS.items()}
    assert document["messages"][0]["content"] == expected
    assert document["metadata"]["score"] == Decimal("1e400")
    for text in NUMBERS.values():
        assert f": {text}" in result.stdout
    assert "Infinity" not in result.stdout
    if command[0] == "export":
        assert document["numbers"] == expected
        assert _exact(result.stdout) == {"session_id": "a:n", **_exact(_document_text())}


@pytest.mark.parametrize(
    "command", [["export", "a:n", "-o", "-", "-f", "yaml"], ["show", "a:n", "-f", "yaml"]]
)
def test_yaml_keeps_every_number_exactly(numbers_session, command):
    result = run_installed("session", *command)
    assert result.returncode == 0, result.stderr
    for key, text in NUMBERS.items():
        assert f"{key}: {text}\n" in result.stdout
    assert ".inf" not in result.stdout


def test_an_exported_file_round_trips_exactly(numbers_session, tmp_path):
    output = tmp_path / "n.json"
    assert run("session", "export", "a:n", "-o", str(output)).exit_code == 0
    assert _exact(output.read_text()) == {"session_id": "a:n", **_exact(_document_text())}


def test_jsonl_numbers_are_exact_too(root):
    (root / "chat.jsonl").write_text(
        '{"key": "a:chat", "created_at": "2024-02-28T10:30:00Z",'
        ' "metadata": {"w": 0.10000000000000000555}}\n'
        '{"role": "user", "content": "x", "score": 1e400}\n'
    )
    result = run("session", "export", "a:chat", "-o", "-", "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert '"w": 0.10000000000000000555' in result.stdout and '"score": 1e400' in result.stdout


def test_the_table_shows_stored_numbers(numbers_session):
    result = run("session", "show", "a:n", env={"COLUMNS": "400"})
    assert result.exit_code == 0
    assert "score: 1e400" in result.stdout
    assert '"precise":0.10000000000000000555' in result.stdout


def _nested(depth: int):
    value = "bottom"
    for level in range(depth):
        value = {"level": level, "inner": [value]}
    return value


@pytest.fixture
def deep_session(root):
    document = {
        "created_at": "2024-02-28T10:30:00Z",
        "messages": [{"role": "tool", "content": _nested(400)}],
    }
    (root / "a").mkdir()
    text = json.dumps(document)
    (root / "a" / "deep.json").write_text(text)
    return document


def test_a_result_nested_400_levels_shows_and_exports_in_json(deep_session):
    for command in (
        ["show", "a:deep", "-f", "json"],
        ["export", "a:deep", "-o", "-", "-f", "json"],
    ):
        result = run_installed("session", *command)
        assert result.returncode == 0, result.stderr[-300:]
        assert json.loads(result.stdout)["messages"] == deep_session["messages"]


def _load_deep_yaml(text: str):
    """ruamel.yaml reads recursively: give it a thread with a big stack and a matching limit."""
    from ruamel.yaml import YAML

    outcome = {}
    limit = sys.getrecursionlimit()
    size = threading.stack_size(256 * 1024 * 1024)
    try:
        sys.setrecursionlimit(20_000)
        reader = threading.Thread(
            target=lambda: outcome.update(value=YAML(typ="safe", pure=True).load(text))
        )
        reader.start()
        reader.join(timeout=60)
    finally:
        threading.stack_size(size)
        sys.setrecursionlimit(limit)
    return outcome["value"]


def test_a_result_nested_400_levels_shows_and_exports_in_yaml(deep_session, tmp_path):
    for command in (
        ["show", "a:deep", "-f", "yaml"],
        ["export", "a:deep", "-o", str(tmp_path / "d.yaml")],
    ):
        result = run_installed("session", *command)
        assert result.returncode == 0, result.stderr[-300:]
        text = result.stdout if command[0] == "show" else (tmp_path / "d.yaml").read_text()
        loaded = _load_deep_yaml(text)
        assert loaded["messages"][0]["content"] == deep_session["messages"][0]["content"]


def test_a_result_nested_400_levels_shows_as_a_table(deep_session):
    result = run_installed("session", "show", "a:deep", env={"COLUMNS": "100"})
    assert result.returncode == 0, result.stderr[-300:]
    assert "│ 10:30:00  │ tool │ " in result.stdout or "│ tool │" in result.stdout
    assert "Traceback" not in result.stderr
