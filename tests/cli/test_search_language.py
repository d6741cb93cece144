"""The search language through the command line: OR, AND, -word and NOT word, parentheses,
what it refuses, the `message` of each JSON row (which `show --messages` takes), and a table
that fits the terminal; on the files store (with its index) and on PostgreSQL alike."""

from __future__ import annotations

import json

import pytest

from mofa.render import width
from tests.helpers import message, run, write_session

LONG = "the pelican " + " ".join(f"word{n}" for n in range(60)) + " end"


@pytest.fixture
def corpus(root):
    write_session(
        root,
        "birds",
        "sky",
        [
            message("user", "a blue sky"),
            message("assistant", "the pelican flies"),
            message("user", "blue pelican together"),
        ],
        created_at="2024-03-01T10:00:00Z",
    )
    write_session(
        root,
        "mail",
        "inbox",
        [message("user", "hello"), message("user", "send the e-mail now"), message("tool", "spam")],
        created_at="2024-03-02T10:00:00Z",
    )
    write_session(
        root,
        "mail",
        "junk",
        [message("user", "the e-mail is spam")],
        created_at="2024-03-03T10:00:00Z",
    )
    return root


@pytest.fixture(params=["files", "postgresql"])
def store_options(request, corpus):
    """The options that choose the store, holding the corpus."""
    if request.param == "files":
        return []
    url = request.getfixturevalue("pg_url")
    imported = run("--store", url, "session", "import", "--from-dir", str(corpus))
    assert imported.exit_code == 0, imported.stderr
    return ["--store", url]


def found(options, query) -> dict[str, tuple[int, int]]:
    """session_id: (matches, message) of each JSON row."""
    result = run(*options, "session", "search", "-f", "json", "--", query)
    assert result.exit_code == 0, result.stderr
    return {
        row["session_id"]: (row["matches"], row["message"]) for row in json.loads(result.stdout)
    }


@pytest.mark.parametrize(
    "query, expected",
    [
        ("blue pelican", {"birds:sky": (1, 3)}),
        ("blue AND pelican", {"birds:sky": (1, 3)}),
        ("blue OR pelican", {"birds:sky": (3, 1)}),
        ("blue -pelican", {"birds:sky": (1, 1)}),
        ("blue NOT pelican", {"birds:sky": (1, 1)}),
        ("NOT sky blue", {"birds:sky": (1, 3)}),  # NOT binds tightest: (NOT sky) AND blue
        ("sky OR flies pelican", {"birds:sky": (2, 1)}),  # AND before OR: sky OR (flies pelican)
        ("(sky OR flies) pelican", {"birds:sky": (1, 2)}),
        ("pelican -(flies OR together)", {}),
        ('-"blue sky" blue', {"birds:sky": (1, 3)}),
        ("e-mail", {"mail:inbox": (1, 2), "mail:junk": (1, 1)}),  # a `-` inside a word is no NOT
        ("e-mail -spam", {"mail:inbox": (1, 2)}),  # matching is per message: spam is in another
        ("spam OR sky", {"mail:junk": (1, 1), "mail:inbox": (1, 3), "birds:sky": (1, 1)}),
        ("blue or pelican", {}),  # a lower-case `or` is a word like any other
        ("pel* OR e-m*", {"birds:sky": (2, 2), "mail:inbox": (1, 2), "mail:junk": (1, 1)}),
    ],
)
def test_the_operators_find_the_messages_they_say(store_options, query, expected):
    assert found(store_options, query) == expected


@pytest.mark.parametrize(
    "query, reason",
    [
        ("-pelican", "would match almost every message"),
        ("NOT pelican", "would match almost every message"),
        ("blue OR -pelican", "would match almost every message"),
        ("-(blue pelican)", "would match almost every message"),
        ("blue -(pelican OR -sky)", "would match almost every message"),
        ("(blue", "unbalanced parenthesis"),
        ("blue)", "unbalanced parenthesis"),
        ("blue OR", "OR needs"),
        ("OR blue", "OR needs"),
        ("AND blue", "AND needs"),
        ("blue AND AND pelican", "AND needs"),
        ("blue NOT", "NOT needs"),
        (" ".join(["blue"] * 65), "too many terms: 65"),
        (" ".join(["blue", "-pelican"] * 33), "too many terms: 66"),  # negated terms count too
        ("blue " + "x" * 996, "too long"),
    ],
)
def test_a_query_it_cannot_take_is_one_error_line_exit_2(store_options, query, reason):
    result = run(*store_options, "session", "search", "--", query)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and reason in lines[0], lines


def test_the_limits_themselves_are_accepted(corpus):
    assert found([], " ".join(["blue"] * 64)) == {"birds:sky": (2, 1)}
    assert found([], "blue " + "x" * 995) == {}


def test_the_message_of_a_row_is_the_one_show_messages_shows(store_options):
    row = json.loads(run(*store_options, "session", "search", "flies OR spam", "-f", "json").stdout)
    by_id = {item["session_id"]: item["message"] for item in row}
    assert by_id == {"birds:sky": 2, "mail:inbox": 3, "mail:junk": 1}
    shown = run(
        *store_options,
        "session",
        "show",
        "birds:sky",
        "--messages",
        str(by_id["birds:sky"]),
        "-f",
        "json",
    )
    assert shown.exit_code == 0, shown.stderr
    assert [(m["position"], m["content"]) for m in json.loads(shown.stdout)["messages"]] == [
        (2, "the pelican flies")
    ]


def test_the_message_counts_only_the_role_asked_for_but_keeps_its_position(store_options):
    assert found([*store_options], "spam") == {"mail:inbox": (1, 3), "mail:junk": (1, 1)}
    result = run(*store_options, "session", "search", "spam", "--role", "tool", "-f", "json")
    assert [(r["session_id"], r["message"]) for r in json.loads(result.stdout)] == [
        ("mail:inbox", 3)
    ]


@pytest.mark.parametrize("columns", [60, 80, 200])
def test_the_table_fits_the_terminal_width(root, columns):
    write_session(root, "birds", "long", [message("user", LONG)], created_at="2024-03-04T10:00:00Z")
    snippet = json.loads(run("session", "search", "pelican", "-f", "json").stdout)[0]["snippet"]
    result = run("session", "search", "pelican", env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(width(line) for line in lines) <= columns
    row = next(line for line in lines if "birds:long" in line)
    assert "2024-03-04 10:00:00" in row and "│ 1 " in row and "pelican" in row
    if columns == 200:
        assert snippet in row and width(row) < 200  # a snippet that fits is whole
    else:
        assert snippet not in row and row.endswith("… │") and width(row) == columns


def test_a_terminal_too_narrow_still_shows_the_ids_and_times_whole(root):
    write_session(root, "birds", "long", [message("user", LONG)], created_at="2024-03-04T10:00:00Z")
    result = run("session", "search", "pelican", env={"COLUMNS": "20"})
    assert result.exit_code == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if "birds:long" in line)
    assert "│ birds:long │ 2024-03-04 10:00:00 │ 1 " in row and "the pe…" in row


def test_the_table_under_a_terminal_takes_its_width(root):
    from tests.helpers import run_in_terminal

    write_session(root, "birds", "long", [message("user", LONG)], created_at="2024-03-04T10:00:00Z")
    shown = run_in_terminal("session", "search", "pelican", "--no-pager", columns=70)
    assert shown.returncode == 0, shown.output
    row = next(line for line in shown.output.splitlines() if "birds:long" in line)
    import re

    assert width(re.sub(r"\x1b\[[0-9;]*m", "", row.rstrip("\r"))) == 70


@pytest.mark.parametrize("columns", [60, 70, 80])
def test_a_cut_snippet_keeps_its_first_match_in_sight(root, columns):
    text = "alpha beta gamma delta epsilon zeta eta theta pelican iota kappa lambda mu"
    write_session(root, "birds", "far", [message("user", text)], created_at="2024-03-04T10:00:00Z")
    result = run("session", "search", "pelican", env={"COLUMNS": str(columns)})
    row = next(line for line in result.stdout.splitlines() if "birds:far" in line)
    assert width(row) == columns
    assert "…" in row and "pelican" in row and "alpha" not in row
