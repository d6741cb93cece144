"""The stores the contract suite runs: every store must pass it unchanged.

A new store adds one entry to STORES: a function that opens it, empty, for one test.
"""

from __future__ import annotations

import pytest


def _files(tmp_path, root):
    from mofa.stores import open_store

    return open_store(root=str(root), indexed=False, warn=lambda text: None)


def _indexed(tmp_path, root):
    from mofa.stores import open_store

    return open_store(root=str(root), index_path=str(tmp_path / "index.sqlite3"),
                      warn=lambda text: None, notice=lambda text: None)


STORES = {"files": _files, "files+index": _indexed}


@pytest.fixture(params=sorted(STORES))
def store(request, tmp_path, root):
    opened = STORES[request.param](tmp_path, root)
    try:
        yield opened
    finally:
        opened.close()
