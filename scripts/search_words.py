#!/usr/bin/env python3
"""Words to search for in a generated tree, picked by how many messages hold them in a sample
of its files (every k-th file in path order, about 2,000): the same tree gives the same words.
Prints JSON: rare, mid and common words, and the sample's size.

    python scripts/search_words.py ROOT
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter

from search_floor import message_contents, session_files

from mofa.searching import fold, searchable_text

SAMPLE_FILES = 2000
LETTERS = re.compile(r"[a-z]+")
WORD = re.compile(r"[^\W_]+")  # a token as FTS5's unicode61 cuts one
MID_SHARE, COMMON_SHARE = 0.001, 0.01  # of messages: `government` is in ~1 % of them


def message_word_counts(root: str) -> tuple[Counter, int]:
    """How many sampled messages hold each word, and how many messages were sampled."""
    files = sorted(session_files(root))
    counts: Counter = Counter()
    messages = 0
    for path in files[:: max(1, len(files) // SAMPLE_FILES)]:
        for content in message_contents(path):
            messages += 1
            counts.update(set(WORD.findall(fold(searchable_text(content)))))
    return counts, messages


def nearest(counts: Counter, messages: int, share: float, letters: int) -> str:
    """The word of at least `letters` letters held by the share of messages nearest `share`
    (ties: the first in alphabetical order)."""
    words = [word for word in counts if len(word) >= letters and LETTERS.fullmatch(word)]
    return min(sorted(words), key=lambda word: abs(counts[word] / messages - share))


def rare(counts: Counter) -> str:
    """The middle one, alphabetically, of the words of five letters or more held by the fewest
    sampled messages."""
    words = [word for word in counts if len(word) >= 5 and LETTERS.fullmatch(word)]
    fewest = min(counts[word] for word in words)
    least = sorted(word for word in words if counts[word] == fewest)
    return least[len(least) // 2]


def pick(root: str) -> dict:
    counts, messages = message_word_counts(root)
    return {
        "rare": rare(counts),
        "mid": nearest(counts, messages, MID_SHARE, 5),
        "common": nearest(counts, messages, COMMON_SHARE, 6),
        "sampled_messages": messages,
    }


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: search_words.py ROOT")
    print(json.dumps(pick(sys.argv[1])))
