from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter

import pytest

from tests.helpers import listed_ids, run_installed

pytest.importorskip("wordfreq")

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "generate_sessions.py")


def _generate(root, *extra: str) -> dict:
    done = subprocess.run(
        [sys.executable, SCRIPT, "--root", str(root), "-n", "60", "-a", "4", *extra],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


def _word_counts(root) -> Counter:
    counts: Counter = Counter()
    for directory, _, names in os.walk(root):
        for name in names:
            with open(os.path.join(directory, name), encoding="utf-8") as handle:
                document = json.load(handle)
            for item in document["messages"]:
                if isinstance(item["content"], str):
                    counts.update(re.findall(r"[a-z']+", item["content"].lower()))
    return counts


def test_realistic_sessions_follow_english_word_frequencies(tmp_path):
    summary = _generate(tmp_path / "realistic", "--realistic")
    _generate(tmp_path / "uniform")
    uniform = _word_counts(tmp_path / "uniform")
    counts = _word_counts(tmp_path / "realistic")

    assert summary["sessions"] == 60 and summary["realistic"] is True
    assert counts.most_common(1)[0][0] == "the"
    assert len(counts) > 1000 > 100 > len(uniform)  # a real vocabulary, most words rare
    assert sum(1 for count in counts.values() if count == 1) > len(counts) / 3
    result = run_installed(
        "--sessions-dir", str(tmp_path / "realistic"), "session", "list", "-n", "100", "-o", "json"
    )
    assert result.returncode == 0, result.stderr
    assert len(listed_ids(result)) == 60


def test_realistic_sessions_are_the_same_for_the_same_seed(tmp_path):
    _generate(tmp_path / "first", "--realistic", "--seed", "3")
    _generate(tmp_path / "second", "--realistic", "--seed", "3")

    assert _word_counts(tmp_path / "first") == _word_counts(tmp_path / "second")
