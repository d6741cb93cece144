"""`show` for reading a conversation: whole messages (`--full`), dates on later days, a slice
of the messages (`--messages`, `--grep -C`) with their positions in every format, and times in
another zone (`--timezone`)."""

from __future__ import annotations

import json

import pytest

from tests.helpers import message, run, write_session

LONG = (
    "The first line of a long answer that runs well past the width of the terminal, so that"
    " it has to be wrapped.\nA second line.\n\nA third after a blank line."
)


@pytest.fixture
def talk(root):
    write_session(
        root,
        "bot",
        "talk",
        created_at="2024-03-01T23:30:00Z",
        messages=[
            message("user", "Where is my refund?", "2024-03-01T23:30:00Z"),
            message("assistant", LONG, "2024-03-01T23:31:00Z"),
            message("user", "Thanks, and the invoice?", "2024-03-02T00:10:00Z"),
            message("assistant", "The invoice is on its way.", "2024-03-02T00:11:00Z"),
            message("user", "Bye", "2024-03-03T08:00:00Z"),
        ],
    )
    return "bot:talk"


def _conversation(output: str) -> list[str]:
    return output.split("Conversation:\n\n", 1)[1].splitlines()


def test_the_table_cuts_each_message_to_one_line(talk):
    result = run("session", "show", talk, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.stderr
    rows = [line for line in _conversation(result.stdout) if line.startswith("│ ")]
    assert len(rows) == 6  # the header and five messages, one line each
    assert all(len(line) <= 80 for line in rows)
    assert "A second line" not in result.stdout


def test_full_prints_every_message_whole_wrapped_with_its_line_breaks(talk):
    result = run("session", "show", talk, "--full", env={"COLUMNS": "72"})
    assert result.exit_code == 0, result.stderr
    lines = _conversation(result.stdout)
    assert all(len(line) <= 72 for line in lines)
    content = [line.split("│")[3].strip() for line in lines if line.startswith("│ ")]
    text = " ".join(content)
    assert "so that it has to be wrapped." in text.replace("  ", " ")
    assert "A second line." in content and "A third after a blank line." in content
    assert "" in content[content.index("A second line.") :]  # the blank line kept
    assert "\\n" not in result.stdout


def test_a_message_on_a_later_day_shows_its_date(talk):
    result = run("session", "show", talk, env={"COLUMNS": "100"})
    stamps = [line.split("│")[1].strip() for line in _conversation(result.stdout)[3:-1]]
    assert stamps == [
        "23:30:00",
        "23:31:00",
        "2024-03-02 00:10:00",
        "2024-03-02 00:11:00",
        "2024-03-03 08:00:00",
    ]


def test_every_message_of_the_first_day_shows_the_clock_only(root):
    write_session(root, "bot", "day", messages=[message("user", "hi", "2024-02-28T10:31:00Z")])
    result = run("session", "show", "bot:day")
    assert "│ 10:31:00  │" in result.stdout


@pytest.mark.parametrize(
    "wanted, positions",
    [("2", [2]), ("2-4", [2, 3, 4]), ("4-", [4, 5]), ("-2", [4, 5]), ("4-99", [4, 5])],
)
def test_messages_picks_by_position_and_numbers_them(talk, wanted, positions):
    result = run("session", "show", talk, "--messages", wanted, env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.stderr
    rows = _conversation(result.stdout)
    assert rows[1].split("│")[1].strip() == "#"
    assert [int(line.split("│")[1]) for line in rows[3:-1]] == positions
    shown = json.loads(run("session", "show", talk, "--messages", wanted, "-f", "json").stdout)
    assert [item["position"] for item in shown["messages"]] == positions
    assert shown["message_count"] == 5  # the session's own count, not the slice's


def test_messages_in_yaml_and_markdown_carry_their_positions(talk):
    yaml_text = run("session", "show", talk, "--messages", "3", "-f", "yaml").stdout
    assert "- position: 3\n" in yaml_text and "Where is my refund" not in yaml_text
    markdown = run("session", "show", talk, "--messages", "3", "-f", "markdown").stdout
    assert "## 3. user" in markdown and "## 1." not in markdown and "## 2." not in markdown


@pytest.mark.parametrize(
    "wanted", ["x", "0", "3-2", "1-2-3", "", "--", "-", "-0", "-00", "\u0663", "1-\u0663", "\uff15"]
)
def test_a_range_it_cannot_read_is_a_usage_error(talk, wanted):
    result = run("session", "show", talk, "--messages", wanted)
    assert result.exit_code == 2
    assert "--messages" in result.stderr


def test_grep_shows_the_matching_messages_with_context(talk):
    shown = json.loads(run("session", "show", talk, "--grep", "invoice", "-f", "json").stdout)
    assert [item["position"] for item in shown["messages"]] == [3, 4]
    around = run("session", "show", talk, "--grep", "refund", "-C", "1", "-f", "json")
    assert [item["position"] for item in json.loads(around.stdout)["messages"]] == [1, 2]
    both = run("session", "show", talk, "--grep", "invoice", "--messages", "4-", "-f", "json")
    assert [item["position"] for item in json.loads(both.stdout)["messages"]] == [4]


def test_grep_speaks_the_search_language(talk):
    phrase = run("session", "show", talk, "--grep", '"on its way"', "-f", "json")
    assert [item["position"] for item in json.loads(phrase.stdout)["messages"]] == [4]
    prefix = run("session", "show", talk, "--grep", "refun*", "-f", "json")
    assert [item["position"] for item in json.loads(prefix.stdout)["messages"]] == [1]
    nothing = run("session", "show", talk, "--grep", "xylophone")
    assert nothing.exit_code == 0 and "(no messages)" in nothing.stdout


def test_a_grep_query_it_cannot_take_is_refused(talk):
    result = run("session", "show", talk, "--grep", '"unbalanced')
    assert result.exit_code == 2
    assert result.stderr.startswith("Error:") and "quote" in result.stderr


def test_context_without_grep_is_a_usage_error(talk):
    result = run("session", "show", talk, "-C", "2")
    assert result.exit_code == 2 and "--grep" in result.stderr


def test_timezone_moves_the_tables_but_not_json(talk):
    shown = run("--timezone", "Asia/Tokyo", "session", "show", talk, env={"COLUMNS": "100"})
    assert shown.exit_code == 0, shown.stderr
    assert "Created: 2024-03-02 08:30:00" in shown.stdout
    stamps = [line.split("│")[1].strip() for line in _conversation(shown.stdout)[3:-1]]
    assert stamps == ["08:30:00", "08:31:00", "09:10:00", "09:11:00", "2024-03-03 17:00:00"]
    as_json = json.loads(
        run("--timezone", "Asia/Tokyo", "session", "show", talk, "-f", "json").stdout
    )
    assert as_json["created_at"] == "2024-03-01T23:30:00Z"
    listed = run("--timezone", "Asia/Tokyo", "session", "list")
    assert "2024-03-02 08:30:00" in listed.stdout
    listed_json = json.loads(
        run("--timezone", "Asia/Tokyo", "session", "list", "-f", "json").stdout
    )
    assert listed_json[0]["created_at"] == "2024-03-01 23:30:00"


def test_the_timezone_variable_and_markdown(talk):
    markdown = run("session", "show", talk, "-f", "markdown", env={"MOFA_TIMEZONE": "Asia/Tokyo"})
    assert "- **Created:** 2024-03-02 08:30:00 JST" in markdown.stdout
    assert "## 1. user · 08:30:00" in markdown.stdout


def test_an_unknown_timezone_is_a_usage_error(talk):
    result = run("--timezone", "Mars/Olympus", "session", "show", talk)
    assert result.exit_code == 2 and "Mars/Olympus" in result.stderr
