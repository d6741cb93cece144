"""Fixtures of the index tests: an index of the test's root, and file stats that settle."""

from __future__ import annotations

import pytest

import indexer.build.refresh
from indexer.index.session_index import SessionIndex


@pytest.fixture
def index(root, tmp_path):
    opened = SessionIndex(str(root), str(tmp_path / "index.db"))
    yield opened
    opened.close()


@pytest.fixture
def settled(monkeypatch):
    """Files written by a test are not 'racily clean' (their rows keep their real ctime), so
    that what a catch-up re-reads is exactly what changed."""
    monkeypatch.setattr(indexer.build.refresh, "RACY_NS", 0)
