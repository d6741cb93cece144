"""What a model wrote must not drive the user's terminal: table forms escape control text."""

import json

import pytest

from mofa.render import printable, truncate, width
from tests.helpers import message, run, write_jsonl, write_session

NASTY = [
    "\x1b[2J\x1b[H",  # clear the screen
    "\x1b]0;pwned\x07",  # set the window title
    "\x1b]52;c;ZXZpbA==\x07",  # write the clipboard
    "\x9b31m",  # 8-bit CSI
    "line\rover",
    "bell\x07",
    "back\x08space",
    "rtl\u202eevil",  # right-to-left override
    "nul\x00byte",
    "sep\u2028line",
]


def assert_safe(text: str) -> None:
    for char in text:
        code = ord(char)
        assert char == "\n" or not (code < 0x20 or 0x7F <= code < 0xA0), repr(text)
        assert char not in "\u202e\u2028", repr(text)


@pytest.mark.parametrize("payload", NASTY)
def test_show_table_escapes_content_role_metadata_and_status(root, payload):
    write_session(
        root,
        "agent",
        "s",
        [message(payload, payload), message("user", {"k": payload})],
        metadata={payload: payload},
        status=payload,
    )
    result = run("session", "show", "agent:s", env={"COLUMNS": "300"}, color=True)
    assert result.exit_code == 0
    assert_safe(result.stdout)
    assert printable(payload) in result.stdout


@pytest.mark.parametrize("payload", NASTY[:6])
def test_list_table_escapes_ids_and_status(root, payload):
    write_session(root, "agent", "s", status=payload)
    write_jsonl(root, f"evil:{payload}", file_stem="evil")
    result = run("session", "list")
    assert_safe(result.stdout + result.stderr)
    assert printable(payload) in result.stdout


def test_warnings_and_errors_are_escaped_too(root):
    (root / "agent\x1b[2J").mkdir()
    (root / "agent\x1b[2J" / "bad\x07.json").write_text("{")
    result = run("session", "list")
    assert_safe(result.stderr)
    assert "\\x1b[2J" in result.stderr


def test_json_keeps_the_text_exact(root):
    write_session(root, "agent", "s", [message("user", NASTY[0])])
    assert (
        json.loads(run("session", "show", "s", "-f", "json").stdout)["messages"][0]["content"]
        == NASTY[0]
    )


def test_printable_leaves_ordinary_text_alone():
    for text in ("plain", "café ☕", "日本語", "emoji 👩‍💻", "tab-free", "a\u00a0b"):
        assert printable(text) == text
    assert printable("a\nb\tc") == "a\\nb\\tc"


def test_wide_characters_are_measured_and_cut_by_columns():
    assert width("日本語") == 6
    assert truncate("日本語のテキスト", 9) == "日本語..."
    assert width(truncate("日本語のテキスト", 9)) <= 9
