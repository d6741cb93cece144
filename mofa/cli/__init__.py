"""The `mofa` command line: a thin layer of click over the session store and the index."""

from __future__ import annotations

import io
import os
import sys

from mofa.cli.console import error_line


class _StandardOutput(io.FileIO):
    """fd 1, whose write errors name it: "standard output: No space left on device"."""

    def write(self, data):
        try:
            return super().write(data)
        except OSError as error:
            raise OSError(error.errno, error.strerror, "standard output") from None


def _open_missing_standard_fds() -> None:
    """A standard fd closed by the caller (`>&-`, `<&-`) is opened on /dev/null, so that no file
    the command opens later takes its number. Stdin then reads as empty; stdout is opened
    read-only, so that writing the result fails (exit 3) instead of vanishing."""
    for fd, flags in ((0, os.O_RDONLY), (1, os.O_RDONLY), (2, os.O_WRONLY)):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, flags)
            if opened != fd:
                os.dup2(opened, fd)
                os.close(opened)
    if sys.stdin is None:
        sys.stdin = open(0, encoding="utf-8", errors="replace", closefd=False)
    if sys.stderr is None:  # Python leaves it None when fd 2 was closed at start
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)


def _configure_streams() -> None:
    """Text for a terminal degrades to escapes on an encoding that cannot show it, rather than
    failing; JSON and YAML are written as UTF-8 bytes (see console.document)."""
    _open_missing_standard_fds()
    stdout = sys.stdout
    encoding = getattr(stdout, "encoding", None) or "utf-8"
    line_buffering = bool(stdout is not None and stdout.isatty())
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(_StandardOutput(1, "w", closefd=False)),
        encoding=encoding,
        errors="backslashreplace",
        line_buffering=line_buffering,
    )
    reconfigure = getattr(sys.stderr, "reconfigure", None)  # a TextIOWrapper's, or none
    if reconfigure is not None:
        try:
            reconfigure(errors="backslashreplace")
        except ValueError:
            pass


def _finish(code) -> int:
    """Flush stdout before the interpreter does, where a failure can still be reported."""
    from mofa.cli.errors import ExitStatus, is_closed_pipe, silence_stdout

    try:
        sys.stdout.flush()
    except OSError as error:
        silence_stdout()
        if is_closed_pipe(error) or code:  # a failed command has said why already
            return code

        try:
            error_line(f"{error.filename or 'standard output'}: {error.strerror or error}")
        except OSError:
            pass
        return code or ExitStatus.FAILED
    return code


def main() -> None:
    """Console entry point: run `mofa`, and never show a traceback for a failure."""
    _configure_streams()
    from mofa.cli.commands import cli

    if "_MOFA_COMPLETE" in os.environ:  # a shell asks for candidates: answer as our scripts read
        from mofa.cli.completion import register_shells

        register_shells()
    code: int | str | None
    try:
        cli(prog_name="mofa")
        code = 0
    except SystemExit as exit:
        code = exit.code
    except KeyboardInterrupt:
        code = 130
    except Exception as error:
        code = _failure_status(error)
    code = _finish(code)
    if _may_skip_teardown(code):
        _exit_now(code)
    sys.exit(code)


def _failure_status(error: Exception) -> int:
    """The exit status of a failure outside any command (`--version` or `--help` writing into
    a full disk or a closed pipe), shown as a command's would be; a bug is one line unless
    debugging."""
    from mofa.cli.console import error_line
    from mofa.cli.errors import CliError, outcome_of

    outcome = outcome_of(error)
    if isinstance(outcome, CliError):
        outcome.show()
        return outcome.exit_code
    if outcome is not None:
        return outcome.exit_code
    if os.environ.get("MOFA_DEBUG"):
        raise error
    error_line(f"internal error: {type(error).__name__}: {error} (set MOFA_DEBUG=1 for details)")
    return 3


# Modules whose exit work (joining worker processes or threads, flushing log handlers) must
# run: a command that imported one ends the usual way.
_EXIT_WORK = ("multiprocessing", "concurrent.futures", "logging")


def _may_skip_teardown(code) -> bool:
    """Whether the command may end without the interpreter's teardown (freeing every module
    and object one by one: ~6 ms of a 50 ms listing). Not when the code is not a
    status number, when threads or modules with exit work are about, or when warnings were
    asked for (-W, PYTHONWARNINGS, -X dev: the teardown is where unclosed files are reported)."""
    import threading

    return (
        (code is None or type(code) is int)
        and not sys.warnoptions
        and not sys.flags.dev_mode
        and threading.active_count() == 1
        and not any(name in sys.modules for name in _EXIT_WORK)
    )


def _exit_now(code) -> None:
    """End the process at once: stdout was flushed by _finish, every store closed by click."""
    try:
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):  # None when started with stderr closed
        pass
    os._exit(code or 0)
