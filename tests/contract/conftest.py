"""The stores the contract suite runs: every store must pass it unchanged.

A new store adds one entry to STORES: a function that opens it, empty, for one test.
"""

from __future__ import annotations

import pytest

from tests.contract.common import filled  # noqa: F401  (a fixture of every contract test)


def _files(tmp_path, root):
    from mofa.stores import open_store

    return open_store(root=str(root), indexed=False, warn=lambda text: None)


def _indexed(tmp_path, root):
    from mofa.stores import open_store

    return open_store(
        root=str(root),
        index_path=str(tmp_path / "index.sqlite3"),
        warn=lambda text: None,
        notice=lambda text: None,
    )


def _postgresql(tmp_path, root, request):
    """A fresh database on the test server (tests/pg.py), whose schema the store creates."""
    from mofa.stores import open_store

    return open_store(
        request.getfixturevalue("pg_url"), warn=lambda text: None, notice=lambda text: None
    )


STORES = {"files": _files, "files+index": _indexed, "postgresql": _postgresql}


@pytest.fixture(params=sorted(STORES))
def store(request, tmp_path, root):
    opener = STORES[request.param]
    # An opener may ask for `request`, to reach fixtures of its own (a database server).
    if opener.__code__.co_argcount > 2:
        opened = opener(tmp_path, root, request)
    else:
        opened = opener(tmp_path, root)
    try:
        yield opened
    finally:
        opened.close()
