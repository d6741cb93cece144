"""The store interface: the file store and the indexed store give the same answers."""

import pytest

from indexer.index import SessionIndex
from indexer.store import IndexedSessionStore
from mofa.store import FileSessionStore
from tests.helpers import message, write_jsonl, write_session


@pytest.fixture
def stores(root, tmp_path):
    for number in range(6):
        write_session(root, f"agent-{number % 2}", f"s{number}", [message("user", "x")] * number,
                      created_at=f"2024-02-28T10:3{number}:00Z", **({"status": "closed"} if number == 3 else {}))
    write_jsonl(root, "agent-1:chat", metadata={"agent_id": "agent-1", "user_id": 7},
                created_at="2024-02-28T10:33:30.5+00:00")
    warnings = []
    indexed = IndexedSessionStore(str(root), lambda: SessionIndex(str(root), str(tmp_path / "i.db")),
                                  warn=warnings.append)
    yield FileSessionStore(str(root)), indexed, warnings
    indexed.close()


@pytest.mark.parametrize("agent", [None, "agent-0", "agent-1", "nobody"])
@pytest.mark.parametrize("limit", [None, 0, 1, 3, 100])
def test_file_and_indexed_stores_agree(stores, agent, limit):
    files, indexed, warnings = stores
    expected = files.list_summaries(agent, limit)
    assert indexed.list_summaries(agent, limit) == expected
    assert len(expected) == (min(limit, 7 if agent is None else 4 if agent == "agent-1" else
                                 3 if agent == "agent-0" else 0) if limit is not None else
                             {None: 7, "agent-0": 3, "agent-1": 4, "nobody": 0}[agent])
    assert warnings == []


def test_resolve_and_load_agree(stores):
    files, indexed, _ = stores
    for wanted in ("agent-0:s2", "s2", "agent-1:chat", "chat"):
        assert files.resolve(wanted) == indexed.resolve(wanted)
        assert files.get(wanted).summary() == indexed.get(wanted).summary()
