"""Arguments that are not valid UTF-8 (raw bytes from the shell) are a usage error: one line,
exit status 2. Paths may still be any bytes."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.helpers import BIN, write_session


def _mofa(*args: str | bytes) -> subprocess.CompletedProcess:
    return subprocess.run(
        [os.fsencode(BIN / "mofa"), *(os.fsencode(arg) for arg in args)],
        capture_output=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("session", "list", "--agent", b"\xff"), "--agent"),
        (("session", "show", b"\xff"), "SESSION_ID"),
        (("session", "export", b"a:\xff", "-o", "-"), "SESSION_ID"),
        (("session", "delete", b"a:s\xff", "--force"), "SESSION_ID"),
        (("session", "query", b"SELECT '\xff'"), "SQL"),
        (("session", "search", b"\xffword"), "QUERY"),
        (("session", "search", "word", "--agent", b"\xfe"), "--agent"),
    ],
)
def test_an_argument_that_is_not_utf8_is_a_usage_error(root, args, named):
    write_session(root, "a", "s")
    result = _mofa(*args)
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert stderr.splitlines()[-1].startswith(f"Error: {named} is not valid UTF-8: ")
    assert "internal error" not in stderr and "Traceback" not in stderr
    assert [line for line in stderr.splitlines() if line.startswith("Error")] == [
        stderr.splitlines()[-1]
    ]
    assert result.stdout == b""
    assert (root / "a" / "s.json").exists()


def test_a_path_that_is_not_utf8_is_still_a_path(root, tmp_path):
    write_session(root, "a", "s")
    target = os.fsencode(tmp_path) + b"/\xff.json"
    result = _mofa("session", "export", "a:s", "-o", target)
    assert result.returncode == 0, result.stderr.decode()
    assert os.path.exists(target)


def test_not_utf8_is_refused_and_utf8_taken_in_a_locale_that_is_not_utf8(root):
    write_session(root, "a", "s")
    c_locale = dict(os.environ, LC_ALL="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0")
    refused = subprocess.run(
        [os.fsencode(BIN / "mofa"), b"session", b"show", b"a:\xff"],
        capture_output=True,
        timeout=120,
        env=c_locale,
    )
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr == b"Error: SESSION_ID is not valid UTF-8: a:\\xff\n"
    taken = subprocess.run(
        [
            os.fsencode(BIN / "mofa"),
            b"session",
            b"query",
            "SELECT 'é' AS e".encode(),
            b"-f",
            b"csv",
        ],
        capture_output=True,
        timeout=120,
        env=c_locale,
    )
    assert taken.returncode == 0, taken.stderr
    assert taken.stdout == "e\né\n".encode()
