"""A root written exactly as the MoFA framework writes it (reference/mofa-jsonl-format.md):
sanitized file names, nanosecond times within one second, a truncated header, null metadata,
lines MoFA itself rejects."""

import json
import os
import re
import sqlite3
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from mofa import tree
from mofa.paths import default_sessions_root
from mofa.stores.files import FileSessionStore
from tests.helpers import (
    EXAMPLES,
    listed_ids,
    message,
    mofa_file_stem,
    mofa_header_time,
    mofa_message_time,
    ns,
    run,
    write_jsonl,
    write_session,
)

EXAMPLE = EXAMPLES / "telegram:chat-42.jsonl"
INDEX_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z")
SECOND = ns("2026-11-24T02:29:43")
# Six sessions started within one second; their ids run against their times.
WITHIN_ONE_SECOND = {
    "tg:a": SECOND + 999_999_999,
    "tg:b": SECOND + 782_491_411,
    "tg:c": SECOND + 500_000_000,  # written .500
    "tg:d": SECOND + 123_456_000,  # written .123456
    "tg:e": SECOND + 5_000_000,  # written .005
    "tg:f": SECOND,  # written without a fraction
}
REJECTED = [
    '{"role":"user","content":{"parts":["x"]},"timestamp":"2026-11-24T02:29:44.000000001Z"}',
    '{"content":"no role","timestamp":"2026-11-24T02:29:44.000000002Z"}',
    '{"role":7,"content":"role not a string"}',
    '{"role":"user","content":"bad time","timestamp":"yesterday"}',
    '{"role":"user","content":"null time","timestamp":null}',
    '{"role":"user","content":"trunc',
    '["role","content"]',
]


def conversation(start_ns: int) -> list[dict]:
    """A message of every role MoFA writes, at nanosecond times."""
    return [
        message(
            role,
            f"{role} says hi",
            mofa_message_time(start_ns + 389_498_634 + step * 1_000_000_007),
        )
        for step, role in enumerate(("system", "user", "assistant", "tool"))
    ]


def write_mofa(
    root: Path, key: str, created_ns: int, messages=None, metadata=None, **kwargs
) -> Path:
    return write_jsonl(
        root,
        key,
        conversation(created_ns) if messages is None else messages,
        metadata={} if metadata is None else metadata,
        created_at=mofa_header_time(created_ns),
        updated_at=mofa_header_time(created_ns + 3_000_000_021),
        **kwargs,
    )


@pytest.fixture
def mofa_root(root):
    for key, created in WITHIN_ONE_SECOND.items():
        write_mofa(root, key, created)
    write_mofa(
        root,
        "user/42",
        SECOND - 10**9,
        metadata={
            "agent_id": "support",
            "user_id": 42,
            "tags": ["vip", "fr"],
            "score": 0.25,
            "verified": True,
            "note": None,
            "nested": {"a": [1, {"b": None}]},
        },
    )
    write_mofa(root, "chat.v2:thread 7", SECOND - 2 * 10**9)
    write_mofa(root, "café:naïve", SECOND - 3 * 10**9, sort_header=True)
    write_mofa(
        root, "nullmeta:1", SECOND - 4 * 10**9, metadata=None, header_extra={"metadata": None}
    )
    write_mofa(
        root,
        "rejects:1",
        SECOND - 5 * 10**9,
        messages=[message("user", "kept", mofa_message_time(SECOND - 5 * 10**9 + 1))],
        extra_lines=REJECTED + ['{"role":"assistant","content":"kept too"}'],
    )
    # MoFA rewrites files in place: a reader can meet a truncated header.
    (root / "corrupt:hdr.jsonl").write_bytes(b'{"key":"corrupt:hdr","created_at":"2026-11-24T02:2')
    return root


def rows(result) -> dict:
    return {row["session_id"]: row for row in json.loads(result.stdout)}


def test_every_session_mofa_wrote_is_listed(mofa_root):
    assert (mofa_root / "user_42.jsonl").exists() and (
        mofa_root / "chat_v2:thread_7.jsonl"
    ).exists()
    assert (mofa_root / "café:naïve.jsonl").exists()
    listing = run("session", "list", "-f", "json")
    assert set(rows(listing)) == {
        *WITHIN_ONE_SECOND,
        "user/42",
        "chat.v2:thread 7",
        "café:naïve",
        "nullmeta:1",
        "rejects:1",
    }
    assert rows(listing)["user/42"]["message_count"] == 4


# -- --limit at full precision ------------------------------------------------


def test_limit_picks_the_newest_at_full_precision(mofa_root):
    result = run("session", "list", "--limit", "4", "-f", "json")
    assert result.exit_code == 0
    assert listed_ids(result) == ["tg:d", "tg:c", "tg:b", "tg:a"]  # the newest four, oldest first
    assert [row["created_at"] for row in json.loads(result.stdout)] == ["2026-11-24 02:29:43"] * 4
    newest_first = sorted(WITHIN_ONE_SECOND, key=WITHIN_ONE_SECOND.get)
    assert listed_ids(run("session", "list", "-f", "json"))[-6:] == newest_first


def test_index_created_at_text_order_is_time_order(root):
    times = {
        "p:plus2": "2024-02-28T12:30:00.5+02:00",  # 10:30:00.5 UTC
        "p:nine": "2024-02-28T10:30:00.123456789Z",
        "p:three": "2024-02-28T10:30:00.124+00:00",
        "p:minus": "2024-02-28T05:30:00.9-05:00",  # 10:30:00.9 UTC
        "p:whole": "2024-02-28T10:30:00Z",
        "p:six": "2024-02-28T10:30:00.000001+00:00",
        "p:bare": "2024-02-28 10:30:00.75",  # no offset: UTC
    }
    for key, created in times.items():
        write_jsonl(root, key, [], created_at=created)
    write_session(root, "p", "json", created_at="2024-02-28T10:30:00.000000002Z")
    query = run("session", "query", "SELECT session_id, created_at FROM sessions", "-f", "json")
    got = {row["session_id"]: row["created_at"] for row in json.loads(query.stdout)}
    assert got == {
        "p:whole": "2024-02-28T10:30:00.000000000Z",
        "p:six": "2024-02-28T10:30:00.000001000Z",
        "p:json": "2024-02-28T10:30:00.000000002Z",
        "p:nine": "2024-02-28T10:30:00.123456789Z",
        "p:three": "2024-02-28T10:30:00.124000000Z",
        "p:plus2": "2024-02-28T10:30:00.500000000Z",
        "p:bare": "2024-02-28T10:30:00.750000000Z",
        "p:minus": "2024-02-28T10:30:00.900000000Z",
    }
    assert all(INDEX_TIME.fullmatch(value) for value in got.values())
    in_time_order = [
        "p:whole",
        "p:json",
        "p:six",
        "p:nine",
        "p:three",
        "p:plus2",
        "p:bare",
        "p:minus",
    ]
    assert listed_ids(run("session", "list", "-f", "json")) == in_time_order
    assert listed_ids(run("session", "list", "-n", "3", "-f", "json")) == in_time_order[-3:]
    assert (
        json.loads(run("session", "list", "-f", "json").stdout)[0]["created_at"]
        == "2024-02-28 10:30:00"
    )


def test_file_times_are_kept_to_the_nanosecond(root):
    first = write_jsonl(root, "m:first", [], created_at=None)
    second = write_jsonl(root, "m:second", [], created_at=None)
    os.utime(first, ns=(SECOND + 2, SECOND + 2))
    os.utime(second, ns=(SECOND + 1, SECOND + 1))
    assert listed_ids(run("session", "list", "-f", "json")) == ["m:second", "m:first"]
    assert listed_ids(run("session", "list", "-n", "1", "-f", "json")) == ["m:first"]


def test_an_index_of_the_previous_schema_is_read_again(mofa_root, index_path):
    assert run("session", "list").exit_code == 0
    with sqlite3.connect(index_path) as conn:  # what schema 4 stored: seconds only
        conn.execute("UPDATE sessions SET created_at = substr(created_at, 1, 19) || 'Z'")
        conn.execute("ALTER TABLE bad_files DROP COLUMN session_id")
        conn.execute("PRAGMA user_version = 4")
    conn.close()
    assert listed_ids(run("session", "list", "-n", "4", "-f", "json")) == [
        "tg:d",
        "tg:c",
        "tg:b",
        "tg:a",
    ]
    assert run("session", "show", "corrupt:hdr").exit_code == 3


# -- show keeps the stored fraction -------------------------------------------


def test_show_keeps_the_stored_fraction_in_utc(root):
    write_jsonl(
        root,
        "f:1",
        [
            message("user", "a", "2024-02-28T10:30:02.123Z"),
            message("user", "b", "2024-02-28T12:30:02.782491411+02:00"),
            message("user", "c", "2024-02-28T10:30:03Z"),
        ],
        created_at="2024-02-28T10:30:00.500+00:00",
        updated_at="2024-02-28T10:30:09.000001+00:00",
    )
    write_session(
        root,
        "agent",
        "s",
        [message("user", "x", "2024-02-28T10:30:02.5Z")],
        created_at="2024-02-28T11:30:00.250+01:00",
    )
    shown = json.loads(run("session", "show", "f:1", "-f", "json").stdout)
    assert shown["created_at"] == "2024-02-28T10:30:00.500Z"
    assert shown["updated_at"] == "2024-02-28T10:30:09.000001Z"
    assert [m["timestamp"] for m in shown["messages"]] == [
        "2024-02-28T10:30:02.123Z",
        "2024-02-28T10:30:02.782491411Z",
        "2024-02-28T10:30:03Z",
    ]
    assert (
        json.loads(run("session", "show", "agent:s", "-f", "json").stdout)["created_at"]
        == "2024-02-28T10:30:00.250Z"
    )
    yaml_text = run("session", "show", "f:1", "-f", "yaml").stdout
    assert "created_at: 2024-02-28T10:30:00.500Z\n" in yaml_text
    assert "  - timestamp: 2024-02-28T10:30:02.782491411Z\n" in yaml_text
    assert YAML(typ="safe").load(yaml_text)["message_count"] == 3


# -- message counts as MoFA would load ----------------------------------------


def test_lines_mofa_rejects_are_not_messages(mofa_root):
    assert rows(run("session", "list", "-f", "json"))["rejects:1"]["message_count"] == 2
    shown = run("session", "show", "rejects:1", "-f", "json")
    assert shown.exit_code == 0
    document = json.loads(shown.stdout)
    assert [m["content"] for m in document["messages"]] == ["kept", "kept too"]
    assert document["message_count"] == 2
    path = mofa_root / "rejects:1.jsonl"
    assert shown.stderr.splitlines() == [
        f"warning: {path}: line {n} {why}; skipped"
        for n, why in [
            (3, "has no string 'content'"),
            (4, "has no string 'role'"),
            (5, "has no string 'role'"),
            (6, "has a 'timestamp' that is not an RFC 3339 time"),
            (7, "has a 'timestamp' that is not an RFC 3339 time"),
            (8, "is not valid JSON"),
            (9, "is not a JSON object"),
        ]
    ]


def test_per_agent_json_keeps_its_rules(root):
    write_session(root, "a", "s", [message("user", {"parts": [1]}), {"role": "tool"}])
    assert rows(run("session", "list", "-f", "json"))["a:s"]["message_count"] == 2


# -- null metadata ------------------------------------------------------------


def test_null_metadata_is_an_empty_object(mofa_root, tmp_path):
    header = json.loads((mofa_root / "nullmeta:1.jsonl").read_text().split("\n")[0])
    assert header["metadata"] is None
    assert "nullmeta:1" in rows(run("session", "list", "-f", "json"))
    shown = run("session", "show", "nullmeta:1", "-f", "json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["metadata"] == {}
    out = tmp_path / "out.json"
    assert run("session", "export", "nullmeta:1", "-o", str(out)).exit_code == 0
    assert json.loads(out.read_text())["metadata"] is None  # export keeps what is stored


@pytest.mark.parametrize("metadata", [[1, 2], "text", 3, True])
def test_jsonl_metadata_that_is_not_an_object_reads_as_empty(root, metadata):
    write_jsonl(root, "odd:meta", metadata=metadata)
    result = run("session", "show", "odd:meta", "-f", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["metadata"] == {}
    assert listed_ids(run("session", "list", "-a", "odd", "-f", "json")) == ["odd:meta"]


def test_per_agent_null_metadata_is_an_empty_object(root):
    write_session(root, "a", "nullmeta", metadata=None)
    write_session(root, "a", "listmeta", metadata=[1])
    listing = run("session", "list", "-f", "json")
    assert listed_ids(listing) == ["a:nullmeta"]
    assert "'metadata' is not a JSON object" in listing.stderr
    assert json.loads(run("session", "show", "a:nullmeta", "-f", "json").stdout)["metadata"] == {}


# -- a truncated header is still addressable ----------------------------------


def test_a_truncated_header_is_addressable_by_its_file_name(mofa_root, tmp_path):
    listing = run("session", "list", "-f", "json")
    assert "corrupt:hdr" not in rows(listing)
    assert f"{mofa_root / 'corrupt:hdr.jsonl'}: line 1 is not a JSON object" in listing.stderr
    for wanted in ("corrupt:hdr", "hdr"):
        shown = run("session", "show", wanted)
        assert shown.exit_code == 3
        assert (
            shown.stderr == f"Error: {mofa_root / 'corrupt:hdr.jsonl'}: line 1 is not a JSON object"
            " (the session header)\n"
        )
    exported = run("session", "export", "corrupt:hdr", "-o", str(tmp_path / "x.json"))
    assert exported.exit_code == 3 and "the session header" in exported.stderr
    assert not (tmp_path / "x.json").exists()
    cancelled = run("session", "delete", "corrupt:hdr", input="n\n")
    assert (
        cancelled.exit_code == 0
        and "cannot be read (line 1 is not a JSON object" in cancelled.stderr
    )
    deleted = run("session", "delete", "corrupt:hdr", "--force")
    assert deleted.exit_code == 0, deleted.stderr
    assert not (mofa_root / "corrupt:hdr.jsonl").exists()
    after = run("session", "list", "-f", "json")
    assert "corrupt:hdr" not in after.stderr and len(rows(after)) == 11
    assert run("session", "show", "corrupt:hdr").exit_code == 1


def test_a_readable_session_wins_over_an_unreadable_file_of_the_same_id(root):
    write_jsonl(root, "k:1", file_stem="elsewhere")
    (root / "k:1.jsonl").write_text('{"key":')
    assert json.loads(run("session", "show", "k:1", "-f", "json").stdout)["session_id"] == "k:1"
    assert run("session", "delete", "k:1", "--force").exit_code == 0
    assert not (root / "elsewhere.jsonl").exists() and (root / "k:1.jsonl").exists()
    assert run("session", "show", "k:1").exit_code == 3


def test_the_file_store_without_index_finds_unreadable_files_too(mofa_root):
    store = FileSessionStore(str(mofa_root))
    ref = store.resolve("corrupt:hdr")
    assert (
        store.path_of(ref.handle) == str(mofa_root / "corrupt:hdr.jsonl")
        and store.resolve("hdr") == ref
    )
    store.delete(ref)
    assert not (mofa_root / "corrupt:hdr.jsonl").exists()


# -- MoFA's CLI spellings -----------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["session", "list", "-o", "json"],
        ["session", "list", "--output", "json"],
        ["session", "list", "--output=json"],
        ["--output-format", "json", "session", "list"],
        ["--output-format=json", "session", "list", "--limit", "20"],
    ],
)
def test_mofa_spellings_of_json(mofa_root, args):
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.stdout)) == 11


@pytest.mark.parametrize(
    "args",
    [
        ["session", "list", "--output-format", "text"],
        ["session", "list", "-o", "text"],
        ["--output-format", "text", "session", "list"],
        ["--output-format", "json", "session", "list", "-f", "table"],  # the command's own wins
    ],
)
def test_mofa_spelling_of_the_table(mofa_root, args):
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("┌") and "│ tg:a " in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["session", "show", "tg:a", "-o", "json"],
        ["session", "show", "tg:a", "--output-format", "json"],
        ["--output-format", "json", "session", "show", "tg:a"],
    ],
)
def test_show_takes_mofa_spellings(mofa_root, args):
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["session_id"] == "tg:a"


def test_a_global_format_the_command_lacks_is_a_usage_error(mofa_root):
    result = run("--output-format", "yaml", "session", "list")
    assert result.exit_code == 2
    assert (
        "mofa --output-format yaml: not a format of this command (one of: table, json)"
        in result.stderr
    )


# -- examples and fixtures look exactly like MoFA's files ---------------------


def _check_mofa_file(
    path: Path, header_keys=("key", "created_at", "updated_at", "metadata")
) -> None:
    raw = path.read_bytes()
    assert not raw.endswith(b"\n")
    header, *messages = [json.loads(line) for line in raw.decode("utf-8").split("\n")]
    assert list(header) == list(header_keys)
    assert path.name == mofa_file_stem(header["key"]) + ".jsonl"
    for key in ("created_at", "updated_at"):
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.(\d{3}|\d{6}|\d{9}))?\+00:00", header[key]
        )
    for line in messages:
        assert list(line) == ["role", "content", "timestamp"]
        assert isinstance(line["content"], str)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", line["timestamp"])


def test_the_shipped_example_is_as_mofa_writes_it():
    _check_mofa_file(EXAMPLE)
    roles = [json.loads(line)["role"] for line in EXAMPLE.read_text().split("\n")[1:]]
    assert roles == ["system", "user", "tool", "assistant"]


def test_the_fixtures_are_as_mofa_writes_them(mofa_root):
    for key in ("tg:a", "tg:b", "user/42", "chat.v2:thread 7"):
        _check_mofa_file(mofa_root / f"{mofa_file_stem(key)}.jsonl")
    _check_mofa_file(
        mofa_root / "café:naïve.jsonl", header_keys=["created_at", "key", "metadata", "updated_at"]
    )
    assert {mofa_header_time(SECOND + n) for n in (0, 5_000_000, 123_456_000, 1)} == {
        "2026-11-24T02:29:43+00:00",
        "2026-11-24T02:29:43.005+00:00",
        "2026-11-24T02:29:43.123456+00:00",
        "2026-11-24T02:29:43.000000001+00:00",
    }
    assert [
        mofa_file_stem(k) for k in ("user/42", "../escape", ".hidden", "emoji🙂:x", "a\\b")
    ] == ["user_42", "___escape", "_hidden", "emoji_:x", "a_b"]


def test_the_example_root_lists_and_shows(tmp_path):
    root = str(EXAMPLE.parent)
    listing = run("--sessions-dir", root, "session", "list", "-f", "json")
    assert rows(listing)["telegram:chat-42"]["message_count"] == 4 and listing.stderr == ""
    shown = json.loads(
        run("--sessions-dir", root, "session", "show", "chat-42", "-f", "json").stdout
    )
    assert shown["created_at"] == "2024-02-28T14:20:00.123Z"
    assert shown["messages"][1]["timestamp"] == "2024-02-28T14:20:05.123456789Z"


def test_every_listed_id_round_trips(mofa_root, tmp_path):
    for session_id in listed_ids(run("session", "list", "-f", "json")):
        assert run("session", "show", session_id, "-f", "json").exit_code == 0, session_id
        assert run("session", "export", session_id, "-o", str(tmp_path / "x.json")).exit_code == 0
        assert run("session", "delete", session_id, "--force").exit_code == 0
    assert listed_ids(run("session", "list", "-f", "json")) == []


# -- macOS default root -------------------------------------------------------


def test_the_default_root_on_macos_is_mofas(monkeypatch, tmp_path):
    environ = {"HOME": str(tmp_path / "home"), "XDG_DATA_HOME": str(tmp_path / "xdg")}
    monkeypatch.setenv("HOME", environ["HOME"])
    monkeypatch.setattr(sys, "platform", "darwin")
    assert default_sessions_root(environ) == str(
        tmp_path / "home" / "Library" / "Application Support" / "mofa" / "sessions"
    )
    assert default_sessions_root({**environ, "MOFA_SESSIONS_DIR": "/x"}) == "/x"
    monkeypatch.setattr(sys, "platform", "linux")
    assert default_sessions_root(environ) == str(tmp_path / "xdg" / "mofa" / "sessions")


# -- --agent never reads outside the root -------------------------------------


@pytest.mark.parametrize("name", ["link", ".hidden", "..", ".", "link/", "../outside", ".hidden/"])
def test_agent_option_never_reads_what_is_not_an_agent_directory(root, tmp_path, name):
    outside = tmp_path / "outside"
    write_session(outside, "", "secret", created_at="2024-01-01T00:00:00Z")
    (root / "link").symlink_to(outside, target_is_directory=True)
    write_session(root, ".hidden", "secret2")
    write_session(root, "real", "s")
    (root / "secret.json").write_text("{}")  # the root itself holds no per-agent files
    result = run("session", "list", "--agent", name, "-f", "json")
    assert result.exit_code == 0 and json.loads(result.stdout) == []
    assert listed_ids(run("session", "list", "-f", "json")) == ["real:s"]
    query = run("session", "query", "SELECT session_id, path FROM sessions", "-f", "json")
    assert json.loads(query.stdout) == [
        {"session_id": "real:s", "path": str(root / "real" / "s.json")}
    ]
    assert run("session", "index", "verify").exit_code == 0


def test_an_agent_directory_swapped_for_a_symlink_is_not_scanned(tmp_path):
    outside = tmp_path / "outside"
    write_session(outside, "", "secret")
    (tmp_path / "agent").symlink_to(outside, target_is_directory=True)
    assert tree.scan_agent_dir(str(tmp_path / "agent")) is None
    assert [f.name for f in tree.scan_agent_dir(str(outside))] == ["secret.json"]
    assert (
        not tree.is_agent_name(".x") and not tree.is_agent_name("a/b") and tree.is_agent_name("a:b")
    )


# -- MOFA_MAX_SESSION_BYTES --------------------------------------------------


@pytest.fixture
def huge(root):
    """Sparse 300 MiB session files: one per-agent, one MoFA."""
    write_session(root, "a", "small")
    for path in (root / "a" / "huge.json", root / "huge:one.jsonl"):
        with open(path, "wb") as handle:
            handle.truncate(300 * 1024 * 1024)
    return root


def test_a_file_above_the_default_limit_is_reported_not_read(huge, tmp_path, index_path):
    listing = run("session", "list", "-f", "json")
    assert listed_ids(listing) == ["a:small"]
    too_large = "too large: 314572800 bytes, more than MOFA_MAX_SESSION_BYTES (268435456); not read"
    assert f"warning: {huge / 'a' / 'huge.json'}: {too_large}" in listing.stderr
    assert f"warning: {huge / 'huge:one.jsonl'}: {too_large}" in listing.stderr
    with sqlite3.connect(index_path) as conn:
        assert sorted(
            conn.execute("SELECT session_id, error LIKE '%too large%' FROM bad_files")
        ) == [("a:huge", 1), ("huge:one", 1)]
    conn.close()
    for wanted in ("a:huge", "huge:one"):
        shown = run("session", "show", wanted)
        assert shown.exit_code == 3 and too_large in shown.stderr
        exported = run("session", "export", wanted, "-o", str(tmp_path / "x.json"))
        assert exported.exit_code == 3 and too_large in exported.stderr
        prompt = run("session", "delete", wanted, input="y\n")
        assert prompt.exit_code == 0 and f"cannot be read ({too_large})" in prompt.stderr
    assert not (huge / "a" / "huge.json").exists() and not (huge / "huge:one.jsonl").exists()


def test_the_limit_comes_from_the_environment(root):
    write_session(root, "a", "big", [message("user", "x" * 500)])
    write_jsonl(root, "m:big", [message("user", "y" * 500, "2024-02-28T10:30:05.000000001Z")])
    write_session(root, "a", "tiny", [])
    env = {"MOFA_MAX_SESSION_BYTES": "300"}
    listing = run("session", "list", "-f", "json", env=env)
    assert listed_ids(listing) == ["a:tiny"]
    assert listing.stderr.count("more than MOFA_MAX_SESSION_BYTES (300); not read") == 2
    assert run("session", "show", "m:big", env=env).exit_code == 3
    assert run("session", "show", "m:big", env={"MOFA_MAX_SESSION_BYTES": "1000"}).exit_code == 0
    assert run("session", "show", "a:big", env={"MOFA_MAX_SESSION_BYTES": "junk"}).exit_code == 0


@pytest.mark.parametrize(
    "text, index, shown",
    [
        (
            "2026-11-24T02:29:43.782491411+00:00",
            "2026-11-24T02:29:43.782491411Z",
            "2026-11-24T02:29:43.782491411Z",
        ),
        (
            "2026-11-24T02:29:43.389498634Z",
            "2026-11-24T02:29:43.389498634Z",
            "2026-11-24T02:29:43.389498634Z",
        ),
        ("2024-02-28T10:30:00+00:00", "2024-02-28T10:30:00.000000000Z", "2024-02-28T10:30:00Z"),
        ("2024-02-28T10:30:02.123Z", "2024-02-28T10:30:02.123000000Z", "2024-02-28T10:30:02.123Z"),
        ("2024-02-28T10:30:02.500z", "2024-02-28T10:30:02.500000000Z", "2024-02-28T10:30:02.500Z"),
        (
            "2024-02-29T01:30:02.25+02:00",
            "2024-02-28T23:30:02.250000000Z",
            "2024-02-28T23:30:02.25Z",
        ),
        ("2024-02-28t10:30:02.1", "2024-02-28T10:30:02.100000000Z", "2024-02-28T10:30:02.1Z"),
        (
            "2024-02-28T10:30:02.1234567891234Z",
            "2024-02-28T10:30:02.123456789Z",
            "2024-02-28T10:30:02.1234567891234Z",
        ),
        ("2024-02-28T10:30+05:30", "2024-02-28T05:00:00.000000000Z", "2024-02-28T05:00:00Z"),
    ],
)
def test_full_precision_forms(text, index, shown):
    from mofa.timestamps import precise_index_text, shown_text

    assert precise_index_text(text) == index
    assert shown_text(text) == shown


def test_file_times_in_the_index_form():
    from mofa.timestamps import epoch_ns_index_text, precise_index_text

    assert epoch_ns_index_text(SECOND + 7) == "2026-11-24T02:29:43.000000007Z"
    assert epoch_ns_index_text(-1) == "1969-12-31T23:59:59.999999999Z"
    assert epoch_ns_index_text(10**30) is None
    assert precise_index_text("yesterday") is None and precise_index_text(None) is None


def test_a_file_growing_while_read_is_read_whole_up_to_the_limit(tmp_path, monkeypatch):
    from mofa.errors import CorruptSession
    from mofa.reading import read_bytes

    real_fstat = os.fstat
    # The file grew between fstat and read: fstat said 10 bytes.
    monkeypatch.setattr(
        os, "fstat", lambda fd: os.stat_result((*real_fstat(fd)[:6], 10, *real_fstat(fd)[7:10]))
    )
    monkeypatch.setenv("MOFA_MAX_SESSION_BYTES", "500")
    path = tmp_path / "s.json"
    path.write_bytes(b"x" * 300)
    assert read_bytes(str(path)) == b"x" * 300
    path.write_bytes(b"x" * 501)
    with pytest.raises(CorruptSession, match="too large: 501 bytes"):
        read_bytes(str(path))
