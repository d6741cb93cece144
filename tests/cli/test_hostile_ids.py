"""Hostile ids: refused with status 1, and nothing around the root is touched."""

import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mofa.errors import MofaError
from mofa.stores.files import FileSessionStore
from tests.helpers import run, write_session

HOSTILE = [
    "..",
    ".",
    "..:x",
    "x:..",
    ".:x",
    "x:.",
    "../victim",
    "agent:../victim",
    "agent:../../victim",
    "/etc/passwd",
    "agent:/etc/passwd",
    "/tmp:x",
    "agent:sub/victim",
    "agent:sub\\victim",
    "ag/ent:x",
    "ag\\ent:x",
    "agent:x\x00",
    "agent:x\n",
    "agent:\x1b[2J",
    "agent:\x7f",
    "\t:x",
    ":",
    "::",
    ":x",
    "x:",
    "",
    "agent:.hidden",
    ".victim",
    "agent:..victim-dir/x",
]


@pytest.fixture
def planted(root, tmp_path):
    """Victim files around (and inside) the root that a wrong path would reach."""
    write_session(root, "agent", "real")
    victims = [
        tmp_path / "victim.json",
        tmp_path / "victim",
        root / ".victim.json",
        root / "agent" / ".hidden.json",
        tmp_path / "sessions-victim.json",
    ]
    (root / "agent" / "sub").mkdir()
    victims.append(root / "agent" / "sub" / "victim.json")
    for path in victims:
        path.write_text('{"messages": []}')
    return tmp_path


def snapshot(top):
    state = {}
    for directory, dirs, files in os.walk(top):
        for name in files + dirs:
            path = os.path.join(directory, name)
            if path.startswith(str(top / "cache")):  # the index's own place, outside the root
                continue
            st = os.lstat(path)
            digest = (
                hashlib.sha256(Path(path).read_bytes()).hexdigest() if os.path.isfile(path) else ""
            )
            state[path] = (st.st_mtime_ns, st.st_size, digest)
    return state


@pytest.mark.parametrize("bad_id", HOSTILE)
def test_every_command_refuses_and_touches_nothing(planted, bad_id):
    before = snapshot(planted)
    for command in (
        ["show", bad_id],
        ["show", bad_id, "-f", "json"],
        ["delete", bad_id, "--force"],
        ["delete", bad_id],
        ["export", bad_id, "-o", str(planted / "out.json")],
    ):
        result = run("session", *command, input="y\n")
        assert result.exit_code == 1, (command, result.stderr)
        assert result.stdout == ""
        assert result.stderr.startswith("Error: ") and len(result.stderr.splitlines()) == 1
    assert snapshot(planted) == before


def test_list_with_a_hostile_agent_lists_nothing(planted):
    before = snapshot(planted)
    for agent in ("..", "../sessions", "/", "agent/sub", ".", ""):
        result = run("session", "list", "-a", agent, "-f", "json")
        assert (result.exit_code, result.stdout) == (0, "[]\n")
    assert snapshot(planted) == before


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
    | st.lists(
        st.sampled_from(["..", ".", "/", "\\", ":", "x", "agent", "\x00", "~", "real"]), max_size=8
    ).map("".join)
)
def test_no_id_resolves_outside_the_root(planted, text):
    root = planted / "sessions"
    store = FileSessionStore(str(root))
    try:
        ref = store.resolve(text)
    except MofaError:
        return
    real_root = os.path.realpath(root)
    path = store.path_of(ref.handle)
    assert os.path.commonpath([os.path.realpath(path), real_root]) == real_root
    assert os.path.dirname(os.path.dirname(os.path.realpath(path))) == real_root
    assert ref.session_id == "agent:real"
