"""`import` gives back what `export` wrote: every session it can produce, numbers exact, on
the files store and on PostgreSQL; YAML anchors refused; concurrent and failing imports
reported as they are."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time

import pytest

from tests.helpers import BIN, message, run, run_installed, write_jsonl, write_session

EXACT = '{"big": 1e400, "long": 0.10000000000000000555, "tiny": 1e-400}'


def export(session_id: str, path, *extra: str) -> str:
    result = run(*extra, "session", "export", session_id, "-o", str(path))
    assert result.exit_code == 0, result.stderr
    return path.read_text()


def write_keyless_jsonl(root, stem: str, header: dict, messages: list) -> None:
    lines = [json.dumps(header, separators=(",", ":"))]
    lines += [json.dumps(item, separators=(",", ":")) for item in messages]
    (root / f"{stem}.jsonl").write_text("\n".join(lines))


def every_kind_of_session(root) -> list[str]:
    """Sessions of every kind export can produce; their ids."""
    write_session(root, "agent-001", "s1", [message("user", "Hi")], extra={"n": 1})
    write_jsonl(root, "telegram:chat-1", metadata={"agent_id": "bot"})
    write_jsonl(root, "user/42", metadata={})
    write_keyless_jsonl(root, "keyless", {"created_at": "2024-02-28T10:30:00Z"}, [])
    write_keyless_jsonl(
        root, "no key here", {"metadata": {"agent_id": "x"}}, [message("user", "a")]
    )
    write_keyless_jsonl(root, "chat:7", {}, [message("assistant", "b")])
    raw = '{"created_at":"2024-02-28T10:30:00Z","metadata":{"n":__},"messages":[]}'
    (root / "num").mkdir()
    (root / "num" / "s.json").write_text(raw.replace("__", EXACT))
    return [
        "agent-001:s1",
        "telegram:chat-1",
        "user/42",
        "keyless",
        "no key here",
        "chat:7",
        "num:s",
    ]


@pytest.mark.parametrize("suffix", ["json", "yaml"])
def test_export_delete_import_gives_back_every_kind_of_session(root, tmp_path, suffix):
    for number, session_id in enumerate(every_kind_of_session(root)):
        before = export(session_id, tmp_path / f"before{number}.{suffix}")
        assert run("session", "delete", session_id, "--force").exit_code == 0
        imported = run("session", "import", str(tmp_path / f"before{number}.{suffix}"))
        assert imported.exit_code == 0, (session_id, imported.stderr)
        assert export(session_id, tmp_path / f"after{number}.{suffix}") == before, session_id


def test_a_mofa_session_without_a_key_comes_back_without_one(root, tmp_path):
    write_keyless_jsonl(root, "plain", {"created_at": "2024-02-28T10:30:00Z"}, [])
    before = (root / "plain.jsonl").read_bytes()
    export("plain", tmp_path / "p.json")
    assert run("session", "delete", "plain", "--force").exit_code == 0
    assert run("session", "import", str(tmp_path / "p.json")).exit_code == 0
    assert (root / "plain.jsonl").read_bytes() == before


def test_yaml_import_keeps_numbers_exact(root, tmp_path):
    (root / "a").mkdir()
    raw = '{"metadata":{"n":__},"messages":[]}'.replace("__", EXACT)
    (root / "a" / "s.json").write_text(raw)
    before = export("a:s", tmp_path / "s.yaml")
    assert "1e400" in before
    assert run("session", "delete", "a:s", "--force").exit_code == 0
    assert run("session", "import", str(tmp_path / "s.yaml")).exit_code == 0
    text = (root / "a" / "s.json").read_text()
    assert "1e400" in text and "0.10000000000000000555" in text and "1e-400" in text
    assert export("a:s", tmp_path / "again.yaml") == before


def test_yaml_anchors_and_aliases_are_refused(root, tmp_path):
    source = tmp_path / "anchored.yaml"
    source.write_text("session_id: a:s\nmetadata: &m {x: 1}\nextra: *m\nmessages: []\n")
    result = run("session", "import", str(source))
    assert result.exit_code == 2, result.stderr
    assert result.stderr.count("Error:") == 1 and "alias" in result.stderr
    assert os.listdir(root) == []


def _limit_memory():
    limit = 1024 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def test_a_yaml_alias_bomb_is_refused_without_growing(root, tmp_path):
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 10):
        lines.append(f"a{level}: &a{level} [" + ",".join([f"*a{level - 1}"] * 9) + "]")
    lines += ["session_id: a:s", "messages: []"]
    source = tmp_path / "bomb.yaml"
    source.write_text("\n".join(lines) + "\n")
    assert source.stat().st_size < 2048
    result = run_installed("session", "import", str(source), preexec_fn=_limit_memory)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("Error:") == 1 and "alias" in result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert os.listdir(root) == []


def _limit_cpu():
    resource.setrlimit(resource.RLIMIT_CPU, (30, 30))


def test_yaml_nested_deep_in_flow_style_is_refused_without_spinning(root, tmp_path):
    source = tmp_path / "deep.yaml"
    depth = 20_000
    source.write_text("session_id: a:s\nmessages: []\nx: " + "[" * depth + "]" * depth + "\n")
    result = run_installed("session", "import", str(source), preexec_fn=_limit_cpu)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("Error:") == 1 and "nested" in result.stderr
    assert os.listdir(root) == []


@pytest.mark.parametrize(
    "name, text",
    [
        ("nan.json", '{"session_id": "a:s", "x": NaN, "messages": []}'),
        ("inf.json", '{"session_id": "a:s", "x": -Infinity, "messages": []}'),
        ("inf.yaml", "session_id: a:s\nx: .inf\nmessages: []\n"),
        ("nan.yaml", "session_id: a:s\nx: .NaN\nmessages: []\n"),
    ],
)
def test_a_number_json_cannot_hold_is_refused_never_stored_as_null(root, tmp_path, name, text):
    source = tmp_path / name
    source.write_text(text)
    result = run("session", "import", str(source))
    assert result.exit_code == 3, result.stderr
    assert result.stderr.count("Error:") == 1 and "not a JSON number" in result.stderr
    assert os.listdir(root) == []


def _many_sessions(source, count: int) -> None:
    for number in range(count):
        write_session(source, f"agent-{number % 7}", f"s{number}", [message("user", f"m{number}")])


def _concurrent_imports(source, env: dict) -> list[subprocess.CompletedProcess]:
    full_env = {**os.environ, **env}
    command = [str(BIN / "mofa"), "session", "import", "--from-dir", str(source)]
    runs = [
        subprocess.Popen(
            command, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    done = []
    for process in runs:
        out, err = process.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(command, process.returncode, out, err))
    return done


def test_two_concurrent_imports_from_dir_both_succeed_quietly(root, tmp_path):
    source = tmp_path / "source"
    _many_sessions(source, 300)
    for result in _concurrent_imports(source, {}):
        assert result.returncode == 0, result.stderr[-2000:]
        assert "Error:" not in result.stderr and "already exists" not in result.stderr
    listed = run("session", "list", "-f", "json")
    assert len(json.loads(listed.stdout)) == 300


def test_two_concurrent_imports_into_postgresql_both_succeed_quietly(tmp_path, pg_url):
    source = tmp_path / "source"
    _many_sessions(source, 300)
    for result in _concurrent_imports(source, {"MOFA_STORE": pg_url}):
        assert result.returncode == 0, result.stderr[-2000:]
        assert "Error:" not in result.stderr and "already exists" not in result.stderr
    listed = run("--store", pg_url, "session", "list", "-f", "json")
    assert len(json.loads(listed.stdout)) == 300


def test_import_from_dir_into_postgresql_gives_the_files_export(root, tmp_path, pg_url):
    ids = every_kind_of_session(root)
    result = run("--store", pg_url, "session", "import", "--from-dir", str(root))
    assert result.exit_code == 0, result.stderr
    for number, session_id in enumerate(ids):
        files = export(session_id, tmp_path / f"files{number}.json")
        database = export(session_id, tmp_path / f"db{number}.json", "--store", pg_url)
        assert database == files, session_id
    assert "1e400" in (tmp_path / f"db{ids.index('num:s')}.json").read_text()


def test_a_server_lost_mid_import_is_one_error_line(tmp_path):
    from tests.pg import start_cluster

    try:
        cluster, url = start_cluster()
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        pytest.skip(f"no PostgreSQL server: {error}")
    try:
        source = tmp_path / "source"
        _many_sessions(source, 3000)
        env = {**os.environ, "MOFA_STORE": url}
        command = [str(BIN / "mofa"), "session", "import", "--from-dir", str(source)]
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            _wait_for_rows(url, process)
            cluster.stop()  # an immediate shutdown: the server is gone mid-import
            out, err = process.communicate(timeout=300)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    finally:
        cluster.stop()
    assert process.returncode == 3, err[-2000:]
    assert err.count("Error:") == 1, err[-2000:]
    assert "Traceback" not in err


def _wait_for_rows(url: str, process: subprocess.Popen) -> None:
    """Until the import has stored some sessions (it is then busy with the rest)."""
    import psycopg

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                stored = conn.execute("SELECT count(*) FROM mofa_sessions").fetchone()[0]
        except psycopg.Error:
            stored = 0
        if stored:
            return
        time.sleep(0.02)
    raise AssertionError("the import stored nothing")


def test_import_from_dir_twice_is_unchanged_for_a_session_holding_nan(root, tmp_path, pg_url):
    source = tmp_path / "source"
    (source / "a").mkdir(parents=True)
    (source / "a" / "s.json").write_text('{"metadata": {"x": NaN}, "messages": []}')
    for store in ((), ("--store", pg_url)):
        for _ in range(2):
            result = run(*store, "session", "import", "--from-dir", str(source))
            assert result.exit_code == 0, result.stderr
        assert "(0 replaced, 1 unchanged)" in result.stderr
