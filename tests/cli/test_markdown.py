"""`show -f markdown` and `export -f markdown`: a transcript a person can read."""

import json
import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mofa.markdown import session_markdown
from mofa.session import JSON_LAYOUT, Session
from tests.helpers import EXAMPLES, REPO, message, run, run_installed, write_jsonl, write_session

GOLDEN = """\
# Session `agent-7:s_1`

- **Agent:** `agent-7`
- **Created:** 2024-02-28 23:59:00 UTC
- **Updated:** 2024-02-29 09:00:00 UTC
- **Status:** archived
- **Messages:** 4
- **User:** `user_42`
- **Tags:** `billing`, `q1`

## 1. user · 23:59:58

```
Show me the *report* for `Q1`
```

## 2. tool · 2024-02-29 00:00:03 UTC

````json
{
  "name": "report",
  "rows": [
    1,
    2.5,
    null,
    true
  ],
  "note": "```sql\\nSELECT 1\\n```"
}
````

## 3. assistant · 2024-02-29 00:00:04 UTC

````
Here it is:

```python
print('hi')

````

## 4. assistant

_(empty)_
"""


def write_golden_session(root):
    write_session(
        root,
        "agent-7",
        "s_1",
        messages=[
            message("user", "Show me the *report* for `Q1`", "2024-02-29T00:59:58+01:00"),
            message(
                "tool",
                {"name": "report", "rows": [1, 2.5, None, True], "note": "```sql\nSELECT 1\n```"},
                "2024-02-29T00:00:03Z",
            ),
            message(
                "assistant", "Here it is:\n\n```python\nprint('hi')\n", "2024-02-29T00:00:04.5Z"
            ),
            message("assistant", "", None),
        ],
        metadata={"agent_id": "agent-7", "user_id": "user_42", "tags": ["billing", "q1"]},
        created_at="2024-02-28T23:59:00Z",
        updated_at="2024-02-29T09:00:00Z",
        status="archived",
    )


def make_session(messages, document=None) -> Session:
    document = {"created_at": "2024-02-28T10:30:00Z", **(document or {})}
    return Session("a:s", "a", "s", JSON_LAYOUT, "/nowhere/a/s.json", document, messages, 0)


def test_golden_transcript(root):
    """One session with every kind of part: the exact text `show -f markdown` prints."""
    write_golden_session(root)
    result = run("session", "show", "agent-7:s_1", "-f", "markdown")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == GOLDEN
    assert result.stderr == ""


def test_show_markdown_of_the_shipped_example():
    result = run(
        "--sessions-dir",
        str(EXAMPLES),
        "session",
        "show",
        "agent-001:session-123",
        "--format",
        "markdown",
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(
        "# Session `agent-001:session-123`\n\n- **Agent:** `agent-001`\n"
        "- **Created:** 2024-02-28 10:30:00 UTC\n"
    )
    assert "## 1. user · 10:30:05\n\n```\nHello, I need help with my order\n```\n" in result.stdout
    assert "- **Messages:** 4\n" in result.stdout


@pytest.mark.parametrize(
    "spelling",
    [
        ["-f", "markdown"],
        ["--format", "markdown"],
        ["-o", "markdown"],
        ["--output-format", "markdown"],
    ],
)
def test_show_markdown_of_a_mofa_jsonl_session(root, spelling):
    write_jsonl(
        root,
        "telegram:chat-9",
        [
            message("user", "Weather in Paris?", "2024-02-28T10:30:05.5+00:00"),
            message("assistant", "12 °C, cloudy.", "2024-02-28T10:30:09+00:00"),
        ],
        metadata={"agent_id": "weather-bot", "user_id": 77},
    )
    result = run("session", "show", "telegram:chat-9", *spelling)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "# Session `telegram:chat-9`\n\n"
        "- **Agent:** `weather-bot`\n"
        "- **Created:** 2024-02-28 10:30:00 UTC\n"
        "- **Updated:** 2024-02-28 10:30:00 UTC\n"
        "- **Status:** active\n"
        "- **Messages:** 2\n"
        "- **User:** `77`\n\n"
        "## 1. user · 10:30:05\n\n```\nWeather in Paris?\n```\n\n"
        "## 2. assistant · 10:30:09\n\n```\n12 °C, cloudy.\n```\n"
    )


def test_show_markdown_without_messages(root):
    write_session(root, "a", "s", messages=[])
    result = run("session", "show", "a:s", "-f", "markdown")
    assert result.exit_code == 0
    assert "- **Status:** empty\n" in result.stdout
    assert result.stdout.endswith("_No messages._\n")


@pytest.mark.parametrize("args, name", [(["-f", "markdown"], "t.txt"), ([], "t.md"), ([], "T.MD")])
def test_export_markdown(root, tmp_path, args, name):
    write_golden_session(root)
    out = tmp_path / "out" / name
    result = run("session", "export", "agent-7:s_1", "-o", str(out), *args)
    assert result.exit_code == 0, result.stderr
    assert "  Format: markdown\n" in result.stderr
    assert out.read_text(encoding="utf-8") == GOLDEN


def test_export_markdown_to_stdout_of_structured_content(root):
    # (MoFA's own JSONL lines hold string content only: a per-agent file holds a tool result.)
    write_session(root, "k", "1", [message("user", {"q": 1}, "2024-02-28T10:30:05Z")])
    result = run("session", "export", "k:1", "-o", "-", "-f", "markdown")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.endswith('## 1. user · 10:30:05\n\n```json\n{\n  "q": 1\n}\n```\n')


def test_unknown_suffix_names_md(root, tmp_path):
    write_session(root, "a", "s")
    result = run("session", "export", "a:s", "-o", str(tmp_path / "s.txt"))
    assert result.exit_code == 2
    assert "--format json|yaml|markdown" in result.stderr and ".md" in result.stderr


def test_installed_show_markdown_is_utf8_whatever_the_locale(root):
    write_session(root, "a", "s", [message("user", "café \x1b[31m ☕ \u202e")])
    result = run_installed(
        "session", "show", "a:s", "-f", "markdown", env={"LC_ALL": "C", "LANG": "C"}
    )
    assert result.returncode == 0, result.stderr
    assert "café \\x1b[31m ☕ \\u202e" in result.stdout


# -- the document keeps its shape, whatever the content ----------------------------------------


def body(markdown: str) -> str:
    """The content of the first message, inside its fence."""
    block = markdown.split("## 1.", 1)[1].split("\n\n", 1)[1]
    fence = block.split("\n", 1)[0]
    assert set(fence) == {"`"}, block
    return block.split("\n", 1)[1].split(f"\n{fence}\n", 1)[0] + "\n"


@pytest.mark.parametrize(
    "content, expected",
    [
        ("bell\x07 escape\x1b[2J", "bell\\x07 escape\\x1b[2J"),
        ("line one\r\nline two\rthree", "line one\nline two\\rthree"),
        ("tab\tkept", "tab\tkept"),
        ("rtl \u202eevil\u2066", "rtl \\u202eevil\\u2066"),
        ("lone \ud800 surrogate", "lone \\ud800 surrogate"),
        ("para\u2029sep", "para\\u2029sep"),
        ("\x85next line", "\\x85next line"),
        ("emoji 👩\u200d💻 joined", "emoji 👩\u200d💻 joined"),
    ],
)
def test_control_characters_are_escaped(content, expected):
    assert body(session_markdown(make_session([message("user", content)]))) == expected + "\n"


def test_a_fence_in_content_stays_inside_the_message():
    text = session_markdown(
        make_session([message("user", "look:\n~~~~ python\ncode"), message("assistant", "after")])
    )
    assert "```\nlook:\n~~~~ python\ncode\n```\n\n## 2. assistant" in text


def test_backtick_fences_in_content_get_a_longer_fence_around_them():
    content = "```\n<pre>\n```\n``` info\n````\n<pre>"
    text = session_markdown(make_session([message("user", content)]))
    assert f"`````\n{content}\n`````\n" in text
    assert body(text) == content + "\n"


def test_an_html_block_cannot_swallow_the_messages_after_it():
    text = session_markdown(
        make_session([message("user", "<pre>\n  <!-- open\nx < y"), message("assistant", "after")])
    )
    assert "```\n<pre>\n  <!-- open\nx < y\n```\n\n## 2. assistant" in text


@pytest.mark.parametrize(
    "line",
    [
        "## 99. system · 00:00:00",
        "# Session `other`",
        "   ## 2. assistant",
        "---",
        "***",
        "===",
        "- **Agent:** `forged`",
        "<h2>99. system</h2>",
        "> ## quoted heading",
        "    indented",
        "```",
        "~~~",
        "````````````",
    ],
)
def test_no_content_line_reads_as_part_of_the_transcript(line):
    """Each message's text is one fenced block that no line of it can close: what renders
    between two message headings is that message's text, whatever it holds."""
    content = f"before\n\n{line}\nheading?\n{line}\nafter"
    text = session_markdown(make_session([message("user", content), message("assistant", "ok")]))
    head, rest = text.split("## 1. user · 10:30:05\n\n", 1)
    block, tail = rest.split("\n\n## 2. assistant", 1)
    fence = block.split("\n", 1)[0]
    assert set(fence) == {"`"} and len(fence) >= 3
    assert block == f"{fence}\n{content}\n{fence}"
    inner = content.split("\n")
    # No inner line closes the fence: a closing fence is at least as long, backticks only.
    assert not [
        item for item in inner if set(item.strip()) == {"`"} and len(item.strip()) >= len(fence)
    ]
    assert "## 1." not in head and tail.startswith(" · 10:30:05\n\n```\nok\n```")


def test_a_backtick_run_longer_than_three_gets_a_longer_fence():
    text = session_markdown(make_session([message("tool", ["`````"])]))
    assert '``````json\n[\n  "`````"\n]\n``````\n' in text


@pytest.mark.parametrize(
    "role, heading",
    [
        ("user", "## 1. user"),
        ("*bold* #x", "## 1. \\*bold\\* \\#x"),
        (None, "## 1. (no role)"),
        (7, "## 1. 7"),
        ({"name": "x"}, '## 1. {"name":"x"}'),
        ("a\nb", "## 1. a\\\\nb"),  # the escape shown, its backslash escaped
    ],
)
def test_roles_stay_one_heading(role, heading):
    item = {"content": "x", "timestamp": "2024-02-28T10:30:05Z"}
    if role is not None:
        item["role"] = role
    assert f"\n{heading} · 10:30:05\n" in session_markdown(make_session([item]))


@pytest.mark.parametrize(
    "stamp, shown",
    [
        ("2024-02-28T10:30:05Z", " · 10:30:05"),
        ("2024-02-28T23:00:00-02:00", " · 2024-02-29 01:00:00 UTC"),  # another day in UTC
        ("yesterday", " · `yesterday`"),
        (12, " · `12`"),
    ],
)
def test_message_times(stamp, shown):
    text = session_markdown(make_session([{"role": "user", "content": "x", "timestamp": stamp}]))
    assert f"\n## 1. user{shown}\n" in text


def test_a_message_without_content():
    assert "## 1. user\n\n_(no content)_\n" in session_markdown(make_session([{"role": "user"}]))


def test_ids_with_backticks_stay_code_spans():
    session = Session("a:`x``", "a", "`x``", JSON_LAYOUT, "/p", {}, [], 0)
    assert session_markdown(session).startswith("# Session ``` a:`x`` ```\n")


def test_tags_that_are_not_a_list_of_strings():
    text = session_markdown(make_session([], {"metadata": {"tags": "solo"}}))
    assert "- **Tags:** `solo`\n" in text
    text = session_markdown(make_session([], {"metadata": {"tags": [1, {"k": "v"}]}}))
    assert '- **Tags:** `1`, `{"k":"v"}`\n' in text


def test_content_nested_as_deep_as_a_file_can_hold():
    depth = 1
    while depth < 100_000:
        try:
            value = json.loads("[" * depth * 2 + "]" * depth * 2)
        except RecursionError:
            break
        depth *= 2
    value = json.loads("[" * depth + "]" * depth)
    text = session_markdown(make_session([message("tool", value)]))
    assert "```json\n" + "[" * depth + "]" * depth + "\n```" in text  # too deep to indent: compact


def test_content_nested_a_little_is_indented():
    text = session_markdown(make_session([message("tool", [[["x"]]])]))
    assert '```json\n[\n  [\n    [\n      "x"\n    ]\n  ]\n]\n```' in text


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)
UNSAFE = ("Cc", "Cf", "Cs", "Zl", "Zp")


@settings(max_examples=300, deadline=None)
@given(content=JSON, role=JSON, stamp=JSON)
def test_any_json_content_is_shown_safely(content, role, stamp):
    """Never raises; nothing unsafe reaches the text; structured content reads back as itself."""
    text = session_markdown(make_session([{"role": role, "content": content, "timestamp": stamp}]))
    text.encode("utf-8")
    assert not [
        char
        for char in text
        if char not in "\n\t" and char != "\u200d" and unicodedata.category(char) in UNSAFE
    ]
    if not isinstance(content, str):
        block = re.search(r"\n(`{3,})json\n(.*)\n\1\n", text, re.S)
        assert json.loads(block.group(2)) == content


def test_the_docs_show_what_show_markdown_prints():
    readme = (REPO / "docs" / "commands.md").read_text(encoding="utf-8")
    command = "$ mofa session show session-124 --format markdown\n"
    documented = readme.split(command, 1)[1].split("\n````\n", 1)[0] + "\n"
    result = run(
        "--sessions-dir", str(EXAMPLES), "session", "show", "session-124", "--format", "markdown"
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == documented
