#!/usr/bin/env python3
"""Generate a realistic sessions tree for benchmarks: deterministic for a given seed.

Agent sizes follow a Zipf law (a few agents own most sessions, as on a real machine); each
session has 1 to 40 messages of realistic sizes, some of them tool results given as objects.

    python scripts/generate_sessions.py --root bench-data/sessions -n 100000 -a 200
    python scripts/generate_sessions.py --root /tmp/s -n 5000 --jsonl-fraction 0.2
    python scripts/generate_sessions.py --root /tmp/s -n 100000 --realistic

--realistic draws the words of the messages from real English frequencies (the `wordfreq`
package: `pip install -e '.[bench]'`): `the` is 5 % of the words, most words are rare, so
search is measured on the distribution users' text has, not on 60 words that are all common.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
from datetime import UTC, datetime, timedelta

WORDS = (
    "the order account refund invoice delivery tracking customer agent request please thanks "
    "error retry timeout database query result summary report weather travel booking flight "
    "hotel payment card address update status pending shipped returned cancelled python code "
    "function test build deploy server latency memory cpu disk network file session tool"
).split()
ROLES = ("user", "assistant")
REALISTIC_VOCABULARY = 30_000  # wordfreq's most frequent English words: ~94 % of running text
START = datetime(2024, 1, 1, tzinfo=UTC)


def agent_sizes(sessions: int, agents: int, skew: float = 1.1) -> list[int]:
    weights = [1 / (rank + 1) ** skew for rank in range(agents)]
    total = sum(weights)
    sizes = [max(1, int(sessions * weight / total)) for weight in weights]
    sizes[0] += sessions - sum(sizes)  # the largest agent absorbs rounding
    return sizes


class Words:
    """Draws words: uniformly from WORDS, or by real English frequency (wordfreq)."""

    def __init__(self, realistic: bool = False):
        if realistic:
            from wordfreq import top_n_list, word_frequency

            self.words = top_n_list("en", REALISTIC_VOCABULARY)
            total = 0.0
            self.cumulative: list[float] | None = []
            for word in self.words:
                total += word_frequency(word, "en")
                self.cumulative.append(total)
        else:
            self.words, self.cumulative = WORDS, None

    def draw(self, rng: random.Random, count: int) -> list[str]:
        if self.cumulative is None:
            return [rng.choice(self.words) for _ in range(count)]
        return rng.choices(self.words, cum_weights=self.cumulative, k=count)


UNIFORM = Words()


def sentence(rng: random.Random, low: int, high: int, words: Words = UNIFORM) -> str:
    return " ".join(words.draw(rng, rng.randint(low, high))).capitalize() + "."


def conversation(rng: random.Random, created: datetime, words: Words = UNIFORM) -> list[dict]:
    messages = []
    moment = created
    for position in range(rng.randint(1, 40)):
        moment += timedelta(seconds=rng.randint(1, 90), microseconds=rng.randint(0, 999_999))
        role = ROLES[position % 2]
        if role == "assistant" and rng.random() < 0.15:
            role, content = (
                "tool",
                {
                    "name": rng.choice(WORDS),
                    "result": [sentence(rng, 3, 12, words) for _ in range(rng.randint(1, 4))],
                },
            )
        elif role == "user":
            content = sentence(rng, 3, 40, words)
        else:
            content = " ".join(sentence(rng, 8, 30, words) for _ in range(rng.randint(1, 6)))
        messages.append(
            {
                "role": role,
                "content": content,
                "timestamp": moment.isoformat(timespec="milliseconds"),
            }
        )
    return messages


def _compact(value) -> str:
    """serde_json's form: no spaces, non-ASCII as is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def mofa_file_stem(key: str) -> str:
    """MoFA's file name for a key: every character not a letter, digit, `-`, `:` or `_`
    becomes `_`."""
    return "".join(char if char.isalnum() or char in "-:_" else "_" for char in key)


def chrono_time(moment: datetime, offset: str) -> str:
    """A UTC time as chrono writes it: 0, 3, 6 or 9 fraction digits, the fewest that hold it."""
    nanos = moment.microsecond * 1000
    fraction = (
        ""
        if nanos == 0
        else f".{nanos // 1_000_000:03d}"
        if nanos % 1_000_000 == 0
        else f".{nanos // 1000:06d}"
        if nanos % 1000 == 0
        else f".{nanos:09d}"
    )
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + offset


def mofa_jsonl(key: str, created: datetime, messages: list[dict], metadata: dict) -> str:
    """A session file as MoFA writes it (reference/mofa-jsonl-format.md): a compact header
    `{key, created_at, updated_at, metadata}` with chrono's `+00:00` times, then one compact
    `{role, content, timestamp}` line per message (content a string, times with `Z` and nine
    fraction digits), joined by `\n` with no trailing newline."""
    last = datetime.fromisoformat(messages[-1]["timestamp"])
    header = {
        "key": key,
        "created_at": chrono_time(created, "+00:00"),
        "updated_at": chrono_time(last, "+00:00"),
        "metadata": metadata,
    }
    lines = [_compact(header)]
    for item in messages:
        content = item["content"] if isinstance(item["content"], str) else _compact(item["content"])
        moment = datetime.fromisoformat(item["timestamp"]).astimezone(UTC)
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond * 1000:09d}Z"
        lines.append(_compact({"role": item["role"], "content": content, "timestamp": stamp}))
    return "\n".join(lines)


BLOCK = 500  # sessions per unit of work: each has its own random stream, whoever writes it


def _block_seed(seed: int, agent: str, start: int) -> str:
    """The seed of one block's random stream: the tree is the same whatever the number of
    processes that write it."""
    return f"{seed}:{agent}:{start}"


_WORKER_WORDS: Words | None = None


def _start_worker(realistic: bool) -> None:
    global _WORKER_WORDS
    _WORKER_WORDS = Words(realistic)


def _write_block(task: tuple) -> int:
    """Write sessions `start` to `stop` (exclusive) of one agent; returns how many."""
    root, name, start, stop, seed, jsonl_fraction = task
    words = _WORKER_WORDS if _WORKER_WORDS is not None else UNIFORM
    rng = random.Random(_block_seed(seed, name, start))
    directory = os.path.join(root, name)
    for number in range(start, stop):
        created = START + timedelta(seconds=rng.randint(0, 365 * 86400))
        messages = conversation(rng, created, words)
        key = f"session-{number:06d}"
        metadata = {
            "agent_id": name,
            "user_id": f"user-{rng.randint(1, 5000)}",
            "tags": rng.sample(WORDS, 2),
        }
        if rng.random() < jsonl_fraction:
            data = mofa_jsonl(f"{name}:{key}", created, messages, metadata)
            path = os.path.join(root, f"{mofa_file_stem(f'{name}:{key}')}.jsonl")
        else:
            document = {
                "session_id": f"{name}:{key}",
                "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "updated_at": messages[-1]["timestamp"],
                "metadata": metadata,
                "messages": messages,
            }
            if rng.random() < 0.05:
                document["status"] = "closed"
            path = os.path.join(directory, f"{key}.json")
            data = json.dumps(document)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(data)
    return stop - start


def generate(
    root: str,
    sessions: int,
    agents: int,
    seed: int,
    jsonl_fraction: float,
    realistic: bool = False,
    jobs: int = 1,
) -> dict:
    """Fill `root`; `jobs` processes write its blocks (the tree does not depend on `jobs`)."""
    sizes = agent_sizes(sessions, agents)
    names = [f"agent-{rank:03d}" for rank in range(agents)]
    os.makedirs(root, exist_ok=True)
    tasks = []
    for name, size in zip(names, sizes, strict=True):
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for start in range(0, size, BLOCK):
            tasks.append((root, name, start, min(size, start + BLOCK), seed, jsonl_fraction))
    if jobs <= 1:
        _start_worker(realistic)
        written = sum(map(_write_block, tasks))
    else:
        with multiprocessing.Pool(jobs, _start_worker, (realistic,)) as pool:
            written = sum(pool.imap_unordered(_write_block, tasks))
    return {
        "root": root,
        "sessions": written,
        "agents": agents,
        "largest": names[0],
        "largest_size": sizes[0],
        "smallest": names[-1],
        "smallest_size": sizes[-1],
        "seed": seed,
        "realistic": realistic,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", required=True, help="sessions root to fill")
    parser.add_argument("-n", "--sessions", type=int, default=100_000)
    parser.add_argument("-a", "--agents", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--jsonl-fraction",
        type=float,
        default=0.0,
        help="share of sessions written in MoFA's JSONL layout (default 0)",
    )
    parser.add_argument(
        "--realistic",
        action="store_true",
        help="words by real English frequency (needs wordfreq: pip install -e '.[bench]')",
    )
    parser.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="processes that write the tree (default: one per core); the tree is the same"
        " for any number",
    )
    args = parser.parse_args()
    if agent_sizes(args.sessions, args.agents)[0] < 1:
        parser.error(f"{args.sessions} sessions are too few for {args.agents} agents")
    summary = generate(
        args.root,
        args.sessions,
        args.agents,
        args.seed,
        args.jsonl_fraction,
        args.realistic,
        args.jobs,
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
