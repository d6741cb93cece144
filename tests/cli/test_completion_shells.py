"""`mofa completion` in real bash, zsh and fish: each runs under a pseudo-terminal with the
script loaded, a partial command line is typed, Tab, then Enter; what the shell then runs must
get the completed id as one exact argument, whatever characters the id holds."""

from __future__ import annotations

import fcntl
import os
import select
import shlex
import shutil
import signal
import struct
import subprocess
import termios
import time

import pytest

from mofa.cli.completion import bash_quote, bash_reply, bash_words
from tests.helpers import BIN, run_installed, write_jsonl

# (id, what is typed before Tab): every id completes from a plain prefix, some from a prefix
# that already holds a colon or an opening quote
HOSTILE = [
    ("support:$(touch CANARY)", "suppo"),
    ("bq:`touch CANARY2`", "bq"),
    ("evil*", "evi"),
    ("back\\slash", "back"),
    ("nl:a\nsup:injected", "nl:"),
    # lines that click's own scripts would read as more candidates (bash, fish; zsh)
    ("inj:a\nplain,injected\nplain\ninjected\n_", "inj"),
    ("sp:a b", "sp:"),
    ("q:it's", "q:"),
    ('dq:say "hi"', "dq:"),
    ("semi:a;b", "semi"),
    ("pipe:a|b", "pipe"),
    ("amp:a&b", "amp"),
    ("var:$HOME", "var"),
    ("tilde:~x", "tild"),
    ("bang:a!b", "bang:"),
    ("tab:a\tb", "tab"),
    ("uni:héllo wörld", "uni"),
    ("brace:{a,b}", "brac"),
    ("lt:a>b<c", "'lt"),
    ("hash:#x", '"has'),
    ("cmd:$(touch CANARY3)", "cmd:\\$\\(to"),  # a prefix typed already escaped
    ('dq2:say "hi" $x!', '"dq2:say \\"h'),  # inside double quotes, past a colon
    ("sqend:it'", "'sqe"),  # quoted words that end in a quote or a `!`
    ('dqend:say "hi"', '"dqe'),
    ("bangend:wow!", '"bange'),
    ("nlend:x\n", "'nle"),
    ("~tilde", "\\~til"),  # characters special at the start of a word
    ("#hash", "\\#has"),
    ("esc:\x1b[31mred\x7f", "esc"),  # terminal controls and invisible characters
    ("cr:a\rb", "cr:"),
    ("bidi:\u202eevil", "bidi"),
]
PROMPT = b"READY> "
TIMEOUT = 30  # seconds any one step may take before the test fails


def _shell(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"no {name} for the shell completion tests in CI", pytrace=False)
        pytest.skip(f"no {name} on this machine")
    return path


@pytest.fixture
def hostile_root(root):
    for number, (session_id, _) in enumerate(HOSTILE):
        write_jsonl(root, session_id, messages=[], file_stem=f"s{number}")
    result = run_installed("session", "list", "-f", "json")
    assert result.returncode == 0, result.stderr
    for session_id, _ in HOSTILE:
        assert f'"session_id": {_json(session_id)}' in result.stdout
    return root


def _json(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)


class Terminal:
    """A shell under a pseudo-terminal of its own; everything it prints is kept."""

    def __init__(self, argv, env, cwd):
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        self.process = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)
        self.output = b""

    def read_until(self, predicate, what: str):
        deadline = time.monotonic() + TIMEOUT
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"waited for {what}; the terminal shows:\n{self.tail()}")
            ready, _, _ = select.select([self.master], [], [], min(left, 0.2))
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the shell has gone: nothing more will come
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"the shell ended; the terminal shows:\n{self.tail()}")
                self.output += chunk

    def tail(self) -> str:
        return self.output[-3000:].decode("utf-8", "replace")

    def prompts(self) -> int:
        return self.output.count(PROMPT)

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=TIMEOUT)
        os.close(self.master)


def _shim(directory, record) -> None:
    """`mofa` as the shell finds it: the real one when completing, else it records its
    arguments (NUL-terminated) so the test sees exactly what the shell ran."""
    real = shlex.quote(str(BIN / "mofa"))
    script = f"""#!/bin/sh
if [ -n "${{_MOFA_COMPLETE+set}}" ]; then exec {real} "$@"; fi
printf '%s\\0' "$@" > {shlex.quote(str(record))}.part && mv {shlex.quote(str(record))}.part \
{shlex.quote(str(record))}
"""
    os.makedirs(directory)
    path = os.path.join(directory, "mofa")
    with open(path, "w") as file:
        file.write(script)
    os.chmod(path, 0o755)


def _start(shell: str, tmp_path):
    """The shell, started with the completion script loaded and `mofa` the recording shim."""
    executable = _shell(shell)
    shims = tmp_path / "shims"
    record = tmp_path / "argv"
    _shim(str(shims), record)
    home = tmp_path / "shellhome"
    home.mkdir()
    env = dict(
        os.environ,
        TERM="xterm",
        LANG="C.UTF-8",
        LC_ALL="C.UTF-8",
        PATH=f"{shims}{os.pathsep}{os.environ.get('PATH', '')}",
        HOME=str(home),
        HISTFILE=str(home / "history"),
    )
    rc = home / "rc"
    real = shlex.quote(str(BIN / "mofa"))  # the script as the real mofa prints it
    if shell == "bash":
        rc.write_text(
            f"PS1='READY> '\nbind 'set bell-style none'\neval \"$({real} completion bash)\"\n"
        )
        argv = [executable, "--noprofile", "--rcfile", str(rc), "-i"]
    elif shell == "zsh":
        (home / ".zshrc").write_text(
            "PS1='READY> '\nunsetopt beep\nautoload -Uz compinit && compinit -u -D\n"
            f'eval "$({real} completion zsh)"\n'
        )
        env["ZDOTDIR"] = str(home)
        argv = [executable, "-i"]
    else:
        rc.write_text(
            "set -g fish_greeting ''\nfunction fish_prompt; echo -n 'READY> '; end\n"
            f"{real} completion fish | source\n"
        )
        argv = [executable, "--no-config", "-i", "-C", f"source {shlex.quote(str(rc))}"]
    work = tmp_path / "work"
    work.mkdir()
    (work / "evil1").write_text("")  # what `evil*` would expand to
    (work / "evilX").write_text("")
    (work / "dir $(touch CANARY)").mkdir()
    return Terminal(argv, env, str(work)), record, work


def _run_typed(terminal: Terminal, record, keys: bytes) -> list[str]:
    """Type `keys` (ending in Enter): the arguments the shell then ran mofa with."""
    prompts = terminal.prompts()
    terminal.type(keys)
    terminal.read_until(lambda: record.exists() and terminal.prompts() > prompts, "mofa to run")
    argv = record.read_bytes().decode("utf-8", "surrogateescape").split("\0")[:-1]
    record.unlink()
    return argv


def _complete_and_run(terminal: Terminal, record, typed: str) -> list[str]:
    """Type `mofa session show <typed>`, Tab, Enter: the arguments the shell ran mofa with."""
    return _run_typed(terminal, record, f"mofa session show {typed}\t\r".encode())


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_a_completed_id_reaches_the_command_as_one_exact_argument(shell, hostile_root, tmp_path):
    terminal, record, work = _start(shell, tmp_path)
    try:
        terminal.read_until(lambda: terminal.prompts() >= 1, "the first prompt")
        ran = {}
        for session_id, typed in HOSTILE:
            ran[session_id] = _complete_and_run(terminal, record, typed)
    finally:
        terminal.close()
    expected = {session_id: ["session", "show", session_id] for session_id, _ in HOSTILE}
    if shell == "fish":
        # fish reads a tab in a candidate as the start of a description: the id is not offered,
        # and what was typed runs as typed
        expected["tab:a\tb"] = ["session", "show", "tab"]
    assert ran == expected
    assert sorted(os.listdir(work)) == [
        "dir $(touch CANARY)",
        "evil1",
        "evilX",
    ]  # no CANARY: nothing ran


# -- bash: the reply to each partial word, read back by bash itself ------------------------------


@pytest.mark.parametrize("session_id", [session_id for session_id, _ in HOSTILE])
@pytest.mark.parametrize(
    "typed, text, close",
    [
        ("", "", ""),  # nothing typed yet
        ("'", "", "'"),  # an opening quote: bash replaces what follows it and closes it
        ('"', "", '"'),
        ("x:", "", ""),  # bash replaces only what follows a `:`
    ],
)
def test_bash_replies_read_back_as_the_id(session_id, typed, text, close):
    value = session_id if typed != "x:" else "x:" + session_id
    reply = bash_reply(value, "", typed, text)
    assert reply is not None
    # as readline inserts a sole match: it closes an open quote unless the reply ends in one
    word = typed + reply + (close if not reply.endswith(close) else "")
    result = subprocess.run(
        [_shell("bash"), "--norc", "--noprofile", "-c", f"set -H; printf '%s\\0' {word}"],
        capture_output=True,
        timeout=TIMEOUT,
        cwd="/",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == value + "\0"


def test_bash_words_follow_the_shells_quoting():
    line = "mofa 'a b' \"c \\\"d\" e\\ f; mofa session show 'sup:x"
    assert bash_words(line) == [
        ("mofa", "mofa"),
        ("session", "session"),
        ("show", "show"),
        ("sup:x", "'sup:x"),
    ]
    assert bash_words("mofa session show ")[-1] == ("", "")
    assert bash_words("mofa $'a") is None  # a quoting this reading does not follow: no answer


def test_bash_quote_leaves_plain_ids_alone():
    assert bash_quote("agent-001:session-123") == "agent-001:session-123"
    assert bash_quote("évé") == "évé"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_commands_options_and_agents_complete_in_the_shell(shell, hostile_root, tmp_path):
    terminal, record, work = _start(shell, tmp_path)
    try:
        terminal.read_until(lambda: terminal.prompts() >= 1, "the first prompt")
        ran = [
            _run_typed(terminal, record, b"mofa sess\tli\t--ag\tev\t\r"),
            _run_typed(terminal, record, b"mofa session list --agent bac\t\r"),
        ]
        # a directory is the shell's own file name completion, quoted by the shell
        ran.append(_run_typed(terminal, record, b"mofa --sessions-dir di\t session list\r"))
        if shell == "bash":
            ran.append(_run_typed(terminal, record, b"mofa session list --agent=ev\t\r"))
    finally:
        terminal.close()
    assert ran[:2] == [
        ["session", "list", "--agent", "evil*"],
        ["session", "list", "--agent", "back\\slash"],
    ]
    assert ran[2][0] == "--sessions-dir" and ran[2][1].rstrip("/") == "dir $(touch CANARY)"
    assert ran[2][2:] == ["session", "list"]
    assert ran[3:] == ([["session", "list", "--agent=evil*"]] if shell == "bash" else [])
    assert sorted(os.listdir(work)) == ["dir $(touch CANARY)", "evil1", "evilX"]
