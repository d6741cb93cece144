"""`status`: what a store says of itself."""

from __future__ import annotations


def test_status_names_the_store_first(filled):
    report = filled.status()
    assert next(iter(report)) == "store"
    assert isinstance(report["store"], str) and report["store"]
