"""The archive writer (mofa.archives) and the files store's delete of an unchanged session."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mofa.archives import Archive, agent_dir_name, file_base, manifest_entries, read_archived
from mofa.errors import RefusedPath, SessionChanged
from mofa.ids import is_safe_name
from mofa.stores.files import FileSessionStore
from tests.helpers import message, write_jsonl, write_session

ids = st.text(min_size=1, max_size=300)


def _archive_name(agent: str, session_id: str) -> tuple[str, str]:
    return agent_dir_name(agent), file_base(session_id, agent) + ".json"


@settings(max_examples=300, deadline=None)
@given(agent=st.text(max_size=300), session_id=ids)
def test_every_archive_name_is_one_plain_component_that_fits(agent, session_id):
    for name in _archive_name(agent, session_id):
        assert is_safe_name(name) and len(name.encode()) <= 255


@settings(max_examples=300, deadline=None)
@given(st.tuples(st.text(max_size=40), ids), st.tuples(st.text(max_size=40), ids))
def test_two_sessions_never_share_an_archive_path(first, second):
    """(agent, id) pairs: another agent is another directory, another id another file."""
    if first != second:
        assert _archive_name(*first) != _archive_name(*second)


@pytest.mark.parametrize(
    "first, second",
    [
        (("agent.1", "agent.1:s"), ("agent_1", "agent_1:s")),
        (("bot", "telegram:chat-1"), ("bot", "slack:chat-1")),
        (("bot", "bot:chat-1"), ("bot", "chat-1")),
        (("bot", "bot:chat-1"), ("bot", "bot:chat_1")),
        (("a", "a:x" + "é" * 200), ("a", "a:x" + "é" * 199 + "e")),
        (("a", "a:Chat"), ("a", "a:chat")),
        (("a", "a:%41"), ("a", "a:A")),
    ],
)
def test_lookalike_ids_get_distinct_names(first, second):
    assert _archive_name(*first) != _archive_name(*second)


@pytest.mark.parametrize("agent", ["..", ".", "a/b", "", ".hidden", "a\\b", "x\x00y", "\n"])
def test_an_agent_name_never_leaves_the_archive(agent):
    name = agent_dir_name(agent)
    assert is_safe_name(name) and "/" not in name and name not in (".", "..")


def test_plain_ids_keep_readable_names():
    assert _archive_name("agent-001", "agent-001:session-123") == (
        "agent-001",
        "session-123.json",
    )
    assert _archive_name("bot", "telegram:chat-1") == ("bot", "@telegram%3Achat-1.json")


def test_nothing_in_an_archive_is_replaced(tmp_path):
    taken = tmp_path / "archive" / "a" / "s.json"
    taken.parent.mkdir(parents=True)
    taken.write_bytes(b"earlier")
    target = tmp_path / "target"
    target.write_bytes(b"not yours")
    (tmp_path / "archive" / "a" / "s+2.json").symlink_to(target)
    with Archive.open(str(tmp_path / "archive")) as archive:
        first = archive.add("a:s", "a", b"one\n")
        second = archive.add("a:s", "a", b"two\n")
    assert (first.file, second.file) == ("a/s+3.json", "a/s+4.json")
    assert taken.read_bytes() == b"earlier" and target.read_bytes() == b"not yours"
    entries = manifest_entries(str(tmp_path / "archive"))
    assert entries == [first, second]
    assert read_archived(str(tmp_path / "archive"), second) == b"two\n"
    assert second.sha256 == hashlib.sha256(b"two\n").hexdigest()
    assert oct(os.stat(tmp_path / "archive" / "a" / "s+3.json").st_mode & 0o777) == "0o600"


def test_a_manifest_line_cut_short_stays_apart_from_the_next(tmp_path):
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "manifest.jsonl").write_text('{"id": "cut')
    with Archive.open(str(tmp_path / "archive")) as archive:
        added = archive.add("a:s", "a", b"{}\n")
    entries = manifest_entries(str(tmp_path / "archive"))
    assert entries[1] == added and isinstance(entries[0], Exception)


def test_a_symlinked_manifest_is_refused(tmp_path):
    (tmp_path / "archive").mkdir()
    elsewhere = tmp_path / "elsewhere.jsonl"
    elsewhere.write_text("")
    (tmp_path / "archive" / "manifest.jsonl").symlink_to(elsewhere)
    with Archive.open(str(tmp_path / "archive")) as archive, pytest.raises(RefusedPath):
        archive.add("a:s", "a", b"{}\n")
    assert elsewhere.read_text() == ""


def test_an_archive_inside_the_root_is_refused(root):
    with pytest.raises(RefusedPath):
        Archive.open(str(root / "archive"), str(root))
    with pytest.raises(RefusedPath):
        Archive.open(str(root), str(root))
    assert os.listdir(root) == []


def test_the_roots_parent_refuses_the_agent_named_like_the_root(root):
    with Archive.open(str(root.parent), str(root)) as archive:
        with pytest.raises(RefusedPath):
            archive.add(f"{root.name}:s", root.name, b"{}\n")
        archive.add("other:s", "other", b"{}\n")
    assert os.listdir(root) == []


# -- deleting only what was read -----------------------------------------------------------
def _appended(path) -> None:
    with open(path, "a") as handle:
        handle.write('\n{"role":"user","content":"more"}')


def _rewritten_alike(path) -> None:
    data = path.read_bytes()
    os.unlink(path)
    path.write_bytes(data)  # the same bytes in another file


@pytest.mark.parametrize("change", [_appended, _rewritten_alike])
def test_a_session_changed_since_it_was_read_is_not_deleted(root, change):
    path = write_jsonl(root, "telegram:chat-1", [message("user", "one")])
    store = FileSessionStore(str(root))
    ref = store.resolve("telegram:chat-1")
    session, version = store.load_version(ref)
    change(path)
    [outcome] = store.delete_many([ref], [version])
    assert isinstance(outcome, SessionChanged)
    assert path.exists()


def test_a_session_unchanged_since_it_was_read_is_deleted(root):
    path = write_session(root, "a", "s")
    store = FileSessionStore(str(root))
    ref = store.resolve("a:s")
    session, version = store.load_version(ref)
    assert json.loads(path.read_bytes())["messages"] == session.messages
    assert store.delete_many([ref], [version]) == [None]
    assert not path.exists() and not (root / "a").exists()
