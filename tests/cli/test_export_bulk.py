"""Bulk `export`: several ids, ids on stdin, or list's filters, into an archive directory (what
`prune --archive` writes) or as jsonl; `import` gives every session back byte for byte."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_import_roundtrip import every_kind_of_session
from tests.cli.test_prune_archive import manifest, tree_of
from tests.helpers import (
    BIN,
    listed_ids,
    message,
    run,
    run_in_terminal,
    run_installed,
    run_then_close_stdout,
    write_jsonl,
    write_session,
)


def exported(session_id: str, *store: str) -> bytes:
    """What a single `export -o - -f json` writes for the session."""
    result = run(*store, "session", "export", session_id, "-o", "-", "-f", "json")
    assert result.exit_code == 0, result.stderr
    return result.stdout_bytes


def archived(archive: Path) -> dict[str, bytes]:
    """Each archived session's file bytes by id, checked against the manifest's SHA-256."""
    files = {}
    for entry in manifest(archive):
        data = (archive / entry["file"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["exported_at"].endswith("Z")
        files[entry["id"]] = data
    return files


@pytest.fixture
def week(root):
    """Sessions of two agents in both layouts, with users, tags and statuses to filter on."""
    write_session(
        root,
        "agent-001",
        "s1",
        created_at="2024-03-01T09:00:00Z",
        metadata={"agent_id": "agent-001", "user_id": "u1", "tags": ["billing"]},
    )
    write_session(root, "agent-001", "s2", created_at="2024-03-02T09:00:00Z", status="closed")
    write_session(root, "agent-002", "s3", [], created_at="2024-03-03T09:00:00Z")
    write_jsonl(
        root,
        "telegram:chat-1",
        [message("user", "hi", "2024-03-04T09:00:01Z")],
        metadata={"agent_id": "agent-001", "user_id": "u1", "tags": ["billing", "vip"]},
        created_at="2024-03-04T09:00:00+00:00",
    )
    write_session(root, "agent-002", "old", created_at="2023-01-01T00:00:00Z")
    return ["agent-001:s1", "agent-001:s2", "agent-002:s3", "telegram:chat-1", "agent-002:old"]


def test_several_ids_make_an_archive_of_each_sessions_exact_json_export(week, tmp_path):
    archive = tmp_path / "archive"
    ids = ["agent-001:s1", "s3", "telegram:chat-1"]
    result = run("session", "export", *ids, "-o", str(archive))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert "✓ Exported 3 sessions (2 messages)" in result.stderr
    files = archived(archive)
    assert list(files) == ["agent-001:s1", "agent-002:s3", "telegram:chat-1"]
    for session_id, data in files.items():
        assert data == exported(session_id)
    assert [entry["file"] for entry in manifest(archive)] == [
        "agent-001/s1.json",
        "agent-002/s3.json",
        "agent-001/@telegram%3Achat-1.json",
    ]


def test_ids_from_standard_input_in_one_process(week, tmp_path):
    archive = tmp_path / "archive"
    ids = "agent-001:s2\nagent-002:old\nagent-001:s2\n"
    result = run_installed("session", "export", "-", "-o", str(archive), input=ids)
    assert result.returncode == 0, result.stderr
    assert list(archived(archive)) == ["agent-001:s2", "agent-002:old"]


def test_the_same_session_named_by_full_and_short_id_is_exported_once(week, tmp_path):
    archive = tmp_path / "archive"
    result = run("session", "export", "agent-002:s3", "s3", "-o", str(archive))
    assert result.exit_code == 0, result.stderr
    assert list(archived(archive)) == ["agent-002:s3"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (["--agent", "agent-001"], ["agent-001:s1", "agent-001:s2", "telegram:chat-1"]),
        (["--since", "2024-03-02", "--until", "2024-03-04"], ["agent-001:s2", "agent-002:s3"]),
        (["--status", "closed", "--status", "empty"], ["agent-001:s2", "agent-002:s3"]),
        (["--user", "u1"], ["agent-001:s1", "telegram:chat-1"]),
        (["--tag", "billing", "--tag", "vip"], ["telegram:chat-1"]),
        (
            ["--all"],
            ["agent-002:old", "agent-001:s1", "agent-001:s2", "agent-002:s3", "telegram:chat-1"],
        ),
    ],
)
def test_lists_filters_choose_the_sessions(week, tmp_path, filters, expected):
    archive = tmp_path / "archive"
    result = run("session", "export", *filters, "-o", str(archive))
    assert result.exit_code == 0, result.stderr
    assert list(archived(archive)) == expected
    listed = run("session", "list", *(f for f in filters if f != "--all"), "-f", "json")
    assert listed_ids(listed) == expected  # the same sessions as list, in its order


def test_jsonl_to_a_file_holds_one_json_export_per_line(week, tmp_path):
    out = tmp_path / "out" / "week.jsonl"
    result = run("session", "export", "--agent", "agent-001", "-f", "jsonl", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    lines = out.read_bytes().split(b"\n")
    assert lines[-1] == b""
    documents = [json.loads(line) for line in lines[:-1]]
    expected = ["agent-001:s1", "agent-001:s2", "telegram:chat-1"]
    assert [document["session_id"] for document in documents] == expected
    for document in documents:
        assert document == json.loads(exported(document["session_id"]))


def test_the_jsonl_suffix_chooses_jsonl_even_for_one_session(week, tmp_path):
    out = tmp_path / "one.jsonl"
    result = run("session", "export", "agent-002:s3", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert json.loads(out.read_bytes()) == json.loads(exported("agent-002:s3"))
    assert out.read_bytes().count(b"\n") == 1


def test_nothing_found_to_standard_output_writes_nothing(week):
    result = run_installed("session", "export", "--agent", "nobody", "-o", "-")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_jsonl_to_standard_output_writes_nothing_but_the_exports(week):
    result = run_installed("session", "export", "--all", "-o", "-")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert [json.loads(line)["session_id"] for line in lines] == [
        "agent-002:old",
        "agent-001:s1",
        "agent-001:s2",
        "agent-002:s3",
        "telegram:chat-1",
    ]


def test_several_sessions_to_standard_output_as_json_is_a_usage_error(week):
    result = run_installed("session", "export", "--all", "-o", "-", "-f", "json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "-f jsonl" in result.stderr


def test_one_session_to_standard_output_defaults_to_json_and_writes_only_it(week):
    result = run_installed("session", "export", "agent-001:s1", "-o", "-")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.encode() == exported("agent-001:s1")


def test_one_session_to_a_file_keeps_the_reference_output(week, tmp_path):
    out = tmp_path / "session.json"
    result = run("session", "export", "agent-001:s1", "-o", str(out))
    assert result.exit_code == 0
    assert result.stderr == (
        "→ Exporting session: agent-001:s1\n"
        "  Format: json\n"
        f"  Output: {out}\n"
        "  ✓ Exported 1 message\n"
        "✓ Session exported successfully\n"
    )


@pytest.mark.parametrize(
    "arguments",
    [
        ["--all", "-f", "yaml", "-o", "x"],
        ["a", "b", "-f", "markdown", "-o", "x"],
        ["a", "b", "-o", "week.md"],
        ["--all", "-o", "week.yaml"],
        ["-o", "x"],
        ["agent-001:s1", "--agent", "agent-001", "-o", "x"],
    ],
)
def test_what_bulk_export_cannot_do_is_a_usage_error(week, tmp_path, arguments):
    place = tmp_path / "place"
    place.mkdir()
    result = run_installed("session", "export", *arguments, cwd=place)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[-1].startswith("Error: ")
    assert os.listdir(place) == []


def test_names_that_would_coincide_never_share_a_file(root, tmp_path):
    write_session(root, "agent.1", "s")
    write_session(root, "agent_1", "s")
    write_session(root, "bot", "chat-1")
    for key in ("telegram:chat-1", "slack:chat-1"):
        write_jsonl(root, key, metadata={"agent_id": "bot"})
    archive = tmp_path / "archive"
    assert run("session", "export", "--all", "-o", str(archive)).exit_code == 0
    entries = manifest(archive)
    assert len(entries) == 5 and len({entry["file"] for entry in entries}) == 5
    for session_id, data in archived(archive).items():
        assert data == exported(session_id)


def test_exporting_again_into_an_archive_replaces_nothing(week, root, tmp_path):
    archive = tmp_path / "archive"
    assert run("session", "export", "agent-001:s1", "s3", "-o", str(archive)).exit_code == 0
    before = tree_of(archive)
    first = before.pop(str(archive / "manifest.jsonl"))
    write_session(root, "agent-001", "s1", [])  # the same id, other content
    assert run("session", "export", "agent-001:s1", "s3", "-o", str(archive)).exit_code == 0
    after = tree_of(archive)
    assert (archive / "manifest.jsonl").read_bytes().startswith(first)
    for path, data in before.items():
        assert after[path] == data  # every earlier file as it was
    entries = manifest(archive)
    assert [entry["id"] for entry in entries] == ["agent-001:s1", "agent-002:s3"] * 2
    assert entries[2]["file"] == "agent-001/s1+2.json"
    assert (archive / entries[2]["file"]).read_bytes() == exported("agent-001:s1")


def test_an_archive_inside_the_root_is_refused_by_any_name(week, root, tmp_path):
    before = tree_of(root)
    link = tmp_path / "link"
    link.symlink_to(root)
    for target in (root / "exports", link / "exports", root / "agent-001", link):
        result = run_installed("session", "export", "--all", "-o", str(target))
        assert result.returncode == 2, (target, result.stderr)
        assert result.stderr.startswith("Error: ") and len(result.stderr.splitlines()) == 1
        assert tree_of(root) == before


def test_an_archive_whose_agent_directory_is_a_symlink_into_the_root_is_refused(
    week, root, tmp_path
):
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "agent-001").symlink_to(root)
    before = tree_of(root)
    result = run_installed("session", "export", "--agent", "agent-001", "-o", str(archive))
    assert result.returncode == 2, result.stderr
    assert tree_of(root) == before
    assert not (archive / "manifest.jsonl").exists()


def test_a_jsonl_file_inside_the_root_is_refused(week, root):
    result = run_installed("session", "export", "--all", "-o", str(root / "all.jsonl"))
    assert result.returncode == 2
    assert not (root / "all.jsonl").exists()


def test_a_bad_id_among_good_ones_fails_alone_and_sets_the_status(week, root, tmp_path):
    (root / "agent-003").mkdir()
    (root / "agent-003" / "broken.json").write_text("{not json")
    archive = tmp_path / "archive"
    ids = ["agent-001:s1", "nope:x", "agent-003:broken", "../bad", "s3"]
    result = run_installed("session", "export", *ids, "-o", str(archive))
    assert result.returncode == 1, result.stderr  # the first failure: not found
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 3
    assert "nope:x" in errors[0] and "agent-003:broken" in errors[2]
    assert "✓ Exported 2 sessions" in result.stderr
    assert list(archived(archive)) == ["agent-001:s1", "agent-002:s3"]
    unreadable = run_installed("session", "export", "agent-003:broken", "s3", "-o", "-")
    assert unreadable.returncode == 3
    assert [json.loads(line)["session_id"] for line in unreadable.stdout.splitlines()] == [
        "agent-002:s3"
    ]


@pytest.mark.parametrize("form", ["archive", "jsonl"])
def test_export_delete_import_gives_back_every_kind_of_session(root, tmp_path, form):
    ids = every_kind_of_session(root)
    before = {session_id: exported(session_id) for session_id in ids}
    target = tmp_path / ("archive" if form == "archive" else "all.jsonl")
    result = run_installed("session", "export", "--all", "-o", str(target))
    assert result.returncode == 0, result.stderr
    deleted = run_installed("session", "delete", "-", "--force", input="\n".join(ids) + "\n")
    assert deleted.returncode == 0, deleted.stderr
    assert listed_ids(run("session", "list", "-f", "json")) == []
    imported = run_installed("session", "import", str(target))
    assert imported.returncode == 0, imported.stderr
    assert f"✓ Imported {len(ids)} sessions" in imported.stderr
    assert {session_id: exported(session_id) for session_id in ids} == before
    again = run_installed("session", "import", str(target))
    assert again.returncode == 0 and f"{len(ids)} unchanged" in again.stderr


def test_import_refuses_a_session_file_given_as_a_jsonl_export(root, tmp_path):
    path = write_jsonl(root, "telegram:chat-1", metadata={"agent_id": "bot"})
    copy = tmp_path / "chat.jsonl"
    copy.write_bytes(path.read_bytes())
    result = run_installed(
        "--sessions-dir", str(tmp_path / "other"), "session", "import", str(copy)
    )
    assert result.returncode in (1, 3)
    (tmp_path / "other").mkdir()
    result = run_installed(
        "--sessions-dir", str(tmp_path / "other"), "session", "import", str(copy)
    )
    assert result.returncode == 3, result.stderr
    assert "not a file of `export -f jsonl`" in result.stderr
    assert os.listdir(tmp_path / "other") == []


def test_a_bad_line_of_a_jsonl_export_fails_alone(root, tmp_path):
    write_session(root, "a", "s1")
    write_session(root, "a", "s2")
    out = tmp_path / "two.jsonl"
    assert run("session", "export", "--all", "-o", str(out)).exit_code == 0
    first, second = out.read_bytes().splitlines()
    out.write_bytes(first + b"\n{broken\n" + second + b"\n")
    assert run("session", "delete", "a:s1", "a:s2", "--force").exit_code == 0
    result = run_installed("session", "import", str(out))
    assert result.returncode == 3
    assert f"{out}, line 2" in result.stderr
    assert listed_ids(run("session", "list", "-f", "json")) == ["a:s1", "a:s2"]


def test_a_progress_bar_on_a_terminal(root, tmp_path):
    for number in range(500):
        write_session(root, "a", f"s{number:03d}")
    shown = run_in_terminal("session", "export", "--all", "-o", str(tmp_path / "archive"))
    assert shown.returncode == 0, shown.output
    assert "Exporting sessions" in shown.output
    assert len(manifest(tmp_path / "archive")) == 500


def test_bulk_export_and_import_on_postgresql(root, tmp_path, pg_url):
    ids = every_kind_of_session(root)
    assert run("--store", pg_url, "session", "import", "--from-dir", str(root)).exit_code == 0
    store = ("--store", pg_url)
    before = {session_id: exported(session_id, *store) for session_id in ids}
    archive, jsonl = tmp_path / "archive", tmp_path / "all.jsonl"
    assert run(*store, "session", "export", *ids, "-o", str(archive)).exit_code == 0
    assert archived(archive) == before
    assert run(*store, "session", "export", "--all", "-o", str(jsonl)).exit_code == 0
    lines = jsonl.read_bytes().splitlines()
    assert sorted(json.loads(line)["session_id"] for line in lines) == sorted(ids)
    for target in (archive, jsonl):
        deleted = run_installed(
            *store, "session", "delete", "-", "--force", input="\n".join(ids) + "\n"
        )
        assert deleted.returncode == 0, deleted.stderr
        imported = run_installed(*store, "session", "import", str(target))
        assert imported.returncode == 0, imported.stderr
        assert {session_id: exported(session_id, *store) for session_id in ids} == before
    failed = run_installed(*store, "session", "export", "nope:x", ids[0], "-o", "-")
    assert failed.returncode == 1
    assert [json.loads(line)["session_id"] for line in failed.stdout.splitlines()] == [ids[0]]


@pytest.mark.parametrize("how", ["filters", "stdin"])
def test_one_handshake_with_a_running_watcher_for_every_session(root, tmp_path, index_path, how):
    import signal

    from tests.daemon_helpers import RunningDaemon

    ids = [f"agent-{number % 3}:s{number}" for number in range(60)]
    for session_id in ids:
        write_session(root, *session_id.split(":"))
    daemon = RunningDaemon(root, index_path)
    try:
        daemon.wait_for_log("watching")
        arguments = ["--agent", "agent-1"] if how == "filters" else ["-"]
        result = run_installed(
            "-v",
            "session",
            "export",
            *arguments,
            "-o",
            str(tmp_path / "archive"),
            input="\n".join(ids) + "\n" if how == "stdin" else None,
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr.count("mofa-indexd confirmed the index") == 1, result.stderr
        assert len(manifest(tmp_path / "archive")) == (20 if how == "filters" else 60)
    finally:
        assert daemon.stop(signal.SIGTERM) == 0


def test_a_line_of_standard_input_that_is_not_utf8_fails_alone(week, tmp_path):
    import subprocess

    from tests.helpers import BIN

    result = subprocess.run(
        [str(BIN / "mofa"), "session", "export", "-", "-o", "-"],
        input=b"agent-001:s1\n\xff\xfe\nagent-002:s3\n",
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.decode().count("Error:") == 1
    exported_ids = [json.loads(line)["session_id"] for line in result.stdout.splitlines()]
    assert exported_ids == ["agent-001:s1", "agent-002:s3"]


def awkward_sessions(root: Path) -> list[str]:
    """Sessions whose export is hard to get byte for byte; their ids."""
    odd = '{"huge": 1e400, "tiny": -1e-400, "long": 0.10000000000000000555, "small": 1e-05,'
    odd += ' "upper": 1E+2, "zero": -0.0, "int": 123456789012345678901234567890, "i64": -0}'
    texts = {
        "num/odd.json": f'{{"created_at": "2024-02-28T10:30:00Z", "metadata": {odd}, "messages":'
        f' [{{"role": "tool", "content": {odd}, "timestamp": "2024-02-28T10:30:05Z"}}]}}',
        "deep/nest.json": '{"messages": [{"role": "tool", "content": '
        + "[" * 400
        + "1.5e-7"
        + "]" * 400
        + "}]}",
        "uni/code.json": '{"session_id": "uni:code", "metadata": {"title": "caf\\u00e9 \u2028 🎉"},'
        ' "messages": [{"role": "user",'
        ' "content": "\\u0000\\u001f\u007f \u0085 中文 \\ud83c\\udf89"}]}',
        "sur/rogate.json": '{"messages": [{"role": "user", "content": "lone \\ud800 and \\udfff"}],'
        ' "\\udc80": "a key"}',
        "dup/keys.json": '{"a": 1, "messages": [], "a": 2.50}',
        "empty/doc.json": "{}",
        "other/id.json": '{"session_id": 42, "messages": []}',
        "bom/file.json": '\ufeff{"messages": []}',
    }
    for name, text in texts.items():
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    big = [message("user", "word " * 200 + str(i)) for i in range(3000)]
    write_session(root, "big", "file", big)
    write_jsonl(root, "telegram:chat-9", metadata={"agent_id": 7, "score": 0.5, "n": 2**70})
    write_jsonl(root, None, [message("user", "no key \u2028")], file_stem="keyless")
    (root / "numbers.jsonl").write_text(
        '{"key":"numbers","metadata":{"w":1e-9,"x":1e999}}\n'
        '{"role":"user","content":"x","timestamp":"2024-02-28T10:30:05Z","extra":[1E5,-0.0]}'
    )
    ids = [
        "num:odd",
        "deep:nest",
        "uni:code",
        "sur:rogate",
        "dup:keys",
        "empty:doc",
        "other:id",
        "bom:file",
        "big:file",
        "telegram:chat-9",
        "keyless",
        "numbers",
    ]
    # a file that already is its own export, as `export -o` wrote it
    (root / "canon").mkdir()
    (root / "canon" / "ical.json").write_bytes(exported("uni:code").replace(b"uni:code", b"x"))
    return [*ids, "canon:ical"]


def jsonl_line(single_export: bytes) -> bytes:
    """The jsonl line of a session, from its single json export by the reference writer."""
    from mofa.jsontext import dumps
    from mofa.numbers import exact_float

    return (dumps(json.loads(single_export, parse_float=exact_float), indent=None) + "\n").encode()


def generated_sessions(root: Path) -> list[str]:
    from tests.helpers import REPO

    script = REPO / "scripts" / "generate_sessions.py"
    generated = root / "generated"
    subprocess.run(
        [sys.executable, str(script), "--root", str(generated), "-n", "60", "-a", "4"]
        + ["--jsonl-fraction", "0.3"],
        check=True,
        capture_output=True,
    )
    for path in generated.iterdir():
        path.rename(root / path.name)
    generated.rmdir()
    return listed_ids(run("session", "list", "-f", "json"))


@pytest.mark.parametrize("sessions", [awkward_sessions, generated_sessions])
def test_every_bulk_form_writes_the_reference_writers_bytes(root, tmp_path, sessions):
    """Each archive file is the single export's bytes (written by the reference writer), each
    jsonl line that export compact, for sessions hard to write and for generated ones."""
    ids = sessions(root)
    assert sorted(ids) == sorted(listed_ids(run("session", "list", "-f", "json")))
    reference = {session_id: exported(session_id) for session_id in ids}
    archive = tmp_path / "archive"
    result = run_installed("session", "export", "--all", "-o", str(archive))
    assert result.returncode == 0, result.stderr
    assert archived(archive) == reference
    from_stdin = run_installed(
        "session", "export", "-", "-o", str(tmp_path / "again"), input="\n".join(ids) + "\n"
    )
    assert from_stdin.returncode == 0, from_stdin.stderr
    assert archived(tmp_path / "again") == reference
    lines = sorted(jsonl_line(data) for data in reference.values())
    jsonl = run_installed("session", "export", "--all", "-f", "jsonl", "-o", "-", text=False)
    assert jsonl.returncode == 0, jsonl.stderr
    assert sorted(jsonl.stdout.splitlines(keepends=True)) == lines
    to_file = run_installed("session", "export", "--all", "-o", str(tmp_path / "all.jsonl"))
    assert to_file.returncode == 0, to_file.stderr
    assert (tmp_path / "all.jsonl").read_bytes() == jsonl.stdout


def many_sessions(root: Path, count: int, size: int = 2000) -> list[str]:
    for number in range(count):
        write_session(root, f"agent-{number % 3}", f"s{number:04d}", [message("user", "x" * size)])
    return [f"agent-{number % 3}:s{number:04d}" for number in range(count)]


def complete_archive(archive: Path) -> dict[str, bytes]:
    """The archive's files by id, each named by the manifest, whole (its SHA-256) and a parsed
    session export: no file is left half-written, named or not."""
    files = archived(archive)
    for path in archive.rglob("*.json"):
        json.loads(path.read_bytes())
    return files


def test_a_file_too_large_to_write_is_one_failure_and_leaves_no_partial_file(root, tmp_path):
    import resource
    import signal

    many_sessions(root, 4)
    write_session(root, "agent-0", "huge", [message("user", "x" * 50_000)])

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    archive = tmp_path / "archive"
    result = run_installed(
        "session", "export", "--all", "-o", str(archive), preexec_fn=limit_file_size
    )
    assert result.returncode == 3, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert errors == [
        f"Error: agent-0:huge: cannot write {archive / 'agent-0' / 'huge.json'}: File too large"
    ]
    assert "✓ Exported 4 sessions" in result.stderr
    assert sorted(complete_archive(archive)) == sorted(
        session_id
        for session_id in listed_ids(run("session", "list", "-f", "json"))
        if session_id != "agent-0:huge"
    )
    assert not (archive / "agent-0" / "huge.json").exists()


@pytest.fixture
def small_disk(tmp_path):
    """A file system of 256 KiB (tmpfs), as a disk that fills up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_stops_the_export_with_one_line_and_no_partial_file(root, small_disk):
    many_sessions(root, 300)
    archive = small_disk / "archive"
    result = run_installed("session", "export", "--all", "-o", str(archive))
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and errors[0].endswith("No space left on device"), errors
    assert "✓ Exported" not in result.stderr
    files = complete_archive(archive)
    assert 0 < len(files) < 300
    assert len(list(archive.rglob("*.json"))) == len(files)


def test_ctrl_c_leaves_every_archived_file_whole_and_named(root, tmp_path):
    import signal
    import time

    many_sessions(root, 1500, size=20_000)
    archive = tmp_path / "archive"
    process = subprocess.Popen(
        [str(BIN / "mofa"), "session", "export", "--all", "-o", str(archive)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        manifest_file = archive / "manifest.jsonl"
        while not (manifest_file.exists() and manifest_file.stat().st_size):
            assert process.poll() is None and time.monotonic() < deadline, "no file archived"
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr
    assert b"Traceback" not in stderr
    files = complete_archive(archive)
    assert 0 < len(files) < 1500
    assert len(list(archive.rglob("*.json"))) == len(files)


def test_a_closed_pipe_ends_a_jsonl_export_quietly(root):
    many_sessions(root, 1500)
    first, code, stderr = run_then_close_stdout(
        "session", "export", "--all", "-f", "jsonl", "-o", "-", text=False
    )
    assert json.loads(first)["session_id"].startswith("agent-")
    assert code == 0, stderr
    assert b"Error" not in stderr and b"Traceback" not in stderr


HOSTILE_KEYS = [
    "../escape",
    ".hidden",
    "a\\b",
    "tab\tkey",
    "new\nline",
    "user/42",
    "manifest.jsonl:x",
    "é:ü",
    "%41:%",
    "@at",
    "a:b+2",
    ":colon",
    "esc\x1b[31m",
    "x" * 300,
]


def test_hostile_ids_and_agents_each_get_a_plain_file_inside_the_archive(root, tmp_path):
    for number, key in enumerate(HOSTILE_KEYS):
        write_jsonl(root, key, metadata={}, file_stem=f"k{number}")
    for agent in ("..", "a/b", "manifest.jsonl", "", "."):
        write_jsonl(root, f"agent {agent!r}", metadata={"agent_id": agent}, file_stem=None)
    ids = listed_ids(run("session", "list", "-f", "json"))
    assert len(ids) == len(HOSTILE_KEYS) + 5
    archive = tmp_path / "archive"
    result = run_installed("session", "export", "--all", "-o", str(archive))
    assert result.returncode == 0, result.stderr
    assert archived(archive) == {session_id: exported(session_id) for session_id in ids}
    for path in archive.rglob("*"):
        assert not path.is_symlink()
        assert path.resolve().is_relative_to(archive)
        assert path.is_dir() == (path.parent == archive and path.name != "manifest.jsonl")
        assert not path.name.startswith(".") and len(path.name.encode()) <= 255
    assert sorted(path.name for path in tmp_path.iterdir()) == ["archive", "cache", "sessions"]


def test_what_is_no_session_in_the_root_is_never_exported(root, tmp_path):
    write_session(root, "agent", "s1")
    outside = tmp_path / "outside"
    write_session(outside, "elsewhere", "secret")
    (root / "linked").symlink_to(outside / "elsewhere")
    (root / "agent" / "link.json").symlink_to(outside / "elsewhere" / "secret.json")
    os.mkfifo(root / "agent" / "fifo.json")
    (root / "agent" / ".hidden.json").write_text('{"messages": []}')
    archive = tmp_path / "archive"
    result = run_installed("session", "export", "--all", "-o", str(archive), timeout=30)
    assert result.returncode == 0, result.stderr
    assert list(archived(archive)) == ["agent:s1"]


def test_an_agent_directory_that_is_a_symlink_in_the_archive_is_never_written_through(
    week, tmp_path
):
    archive, elsewhere = tmp_path / "archive", tmp_path / "elsewhere"
    archive.mkdir()
    elsewhere.mkdir()
    (archive / "agent-001").symlink_to(elsewhere)
    result = run_installed("session", "export", "--all", "-o", str(archive))
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 3 and all("it is a symlink or not a directory" in e for e in errors)
    assert list(elsewhere.iterdir()) == []
    assert sorted(archived(archive)) == ["agent-002:old", "agent-002:s3"]


@pytest.mark.parametrize("kind", ["symlink", "fifo", "directory"])
def test_a_manifest_that_is_no_regular_file_refuses_the_whole_archive(week, tmp_path, kind):
    archive, elsewhere = tmp_path / "archive", tmp_path / "elsewhere"
    archive.mkdir()
    elsewhere.mkdir()
    manifest_path = archive / "manifest.jsonl"
    if kind == "symlink":
        manifest_path.symlink_to(elsewhere / "manifest.jsonl")
    elif kind == "fifo":
        os.mkfifo(manifest_path)
    else:
        manifest_path.mkdir()
    result = run_installed("session", "export", "--all", "-o", str(archive), timeout=30)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and str(manifest_path) in errors[0], errors
    assert os.listdir(archive) == ["manifest.jsonl"] and list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("target", ["a-file", "a-file/under", "dangling"])
def test_an_archive_path_that_cannot_be_a_directory_is_refused(week, tmp_path, target):
    (tmp_path / "a-file").write_text("not a directory")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    result = run_installed("session", "export", "--all", "-o", str(tmp_path / target))
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"Error: cannot archive into {tmp_path / target}: it is not a directory"
    )
    assert (tmp_path / "a-file").read_text() == "not a directory"
    assert not (tmp_path / "nowhere").exists()


def test_a_read_only_archive_directory_is_one_error_and_nothing_written(place):
    from tests.cli.test_permissions import as_user

    root = Path(place) / "sessions"
    for number in range(5):
        write_session(root, f"agent-{number}", "s")
    archive = Path(place) / "archive"
    archive.mkdir()
    archive.chmod(0o555)
    result = as_user(
        place, "--sessions-dir", str(root), "session", "export", "--all", "-o", str(archive)
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[1:] == [
        f"Error: permission denied: {archive / 'manifest.jsonl'}"
    ]
    assert os.listdir(archive) == []


def test_a_session_rewritten_during_the_export_is_archived_whole(root, tmp_path):
    import threading

    many_sessions(root, 300)
    path = root / "agent-0" / "s0000.json"
    contents = [
        json.dumps({"messages": [message("user", text)]}).encode()
        for text in ("first version", "second version " * 50)
    ]
    versions = []
    for content in contents:
        path.write_bytes(content)
        versions.append(exported("agent-0:s0000"))
    stop = threading.Event()

    def rewrite():
        turn = 0
        while not stop.is_set():  # each version put in place whole, as writers do
            temporary = path.with_name(".rewrite.tmp")
            temporary.write_bytes(contents[turn % 2])
            os.replace(temporary, path)
            turn += 1

    writer = threading.Thread(target=rewrite)
    writer.start()
    try:
        results = []
        for attempt in range(4):
            archive = tmp_path / f"archive-{attempt}"
            results.append(
                (archive, run_installed("session", "export", "--all", "-o", str(archive)))
            )
    finally:
        stop.set()
        writer.join()
    for archive, result in results:
        assert result.returncode == 0, result.stderr
        files = complete_archive(archive)
        assert len(files) == 300
        assert files["agent-0:s0000"] in versions
