"""`mofa completion bash|zsh|fish`, and completion of session ids and agents.

The script (one per shell, on click's `ShellComplete` classes) calls `mofa` back on each Tab
with `_MOFA_COMPLETE=<shell>_complete`, and click answers from the command tree; a candidate
is data to the shell whatever it holds (see "the scripts" below). Ids and agents come from a
callable given to `session_id_completion`/`agent_completion`; `indexed_session_ids` and
`indexed_agents` read them from the index as it is (no refresh, read-only, never created): a
Tab must answer at once and must never write.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable

import click
from click.shell_completion import (
    BashComplete,
    CompletionItem,
    FishComplete,
    ShellComplete,
    ZshComplete,
    add_completion_class,
)

from mofa.paths import resolve_sessions_root

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_MOFA_COMPLETE"
MAX_CANDIDATES = 200
Candidates = Callable[[click.Context, str], Iterable[str]]


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str):
    """Print the shell completion script for mofa.

    Completes commands, options, session ids and agents. Put the line for your shell in its
    start-up file.

    \b
    Examples:
      eval "$(mofa completion bash)"                     # in ~/.bashrc
      eval "$(mofa completion zsh)"                      # in ~/.zshrc
      mofa completion fish > ~/.config/fish/completions/mofa.fish
    """
    root = ctx.find_root()
    script = SHELL_CLASSES[shell](root.command, {}, root.info_name or "mofa", COMPLETE_VAR)
    click.echo(script.source())


def _completion(candidates: Candidates, help_text: str | None = None):
    def complete(ctx: click.Context, param: click.Parameter, incomplete: str):
        from click.shell_completion import CompletionItem

        try:
            found = sorted(
                {
                    value
                    for value in candidates(ctx, incomplete)
                    if isinstance(value, str) and value.startswith(incomplete)
                }
            )
        except Exception:  # a Tab never prints a traceback into the user's command line
            return []
        return [CompletionItem(value, help=help_text) for value in found[:MAX_CANDIDATES]]

    return complete


def session_id_completion(candidates: Candidates):
    """A `shell_complete=` callback offering the session ids `candidates(ctx, incomplete)` gives."""
    return _completion(candidates)


def agent_completion(candidates: Candidates):
    """A `shell_complete=` callback offering the agents `candidates(ctx, incomplete)` gives."""
    return _completion(candidates)


# -- candidates from the store ---------------------------------------------------------------


def _store(ctx: click.Context):
    """The store the command line being completed names (the group's callback has not run)."""
    from mofa.stores import open_store

    params = ctx.find_root().params
    url = params.get("store_url")
    root = None if url else resolve_sessions_root(params.get("sessions_dir"))
    return open_store(url, root, params.get("index_path"), root_is_explicit=True)


def indexed_session_ids(ctx: click.Context, incomplete: str) -> list[str]:
    """Session ids starting with `incomplete`, and, for a short id, whose session part does:
    what the store already knows, without refreshing or creating anything."""
    with _store(ctx) as store:
        return store.complete_ids(incomplete, MAX_CANDIDATES)


def indexed_agents(ctx: click.Context, incomplete: str) -> list[str]:
    with _store(ctx) as store:
        return store.complete_agents(incomplete, MAX_CANDIDATES)


# -- the scripts and what mofa answers them ----------------------------------------------------
#
# click's own scripts split mofa's answer on newlines and insert candidates as the shell reads
# them (unquoted in bash), so an id could run a command, glob or inject candidates. Here mofa
# answers with NUL-terminated fields, which no id or agent can contain, and every candidate
# reaches the command line quoted for the shell: by mofa for bash (which inserts what it is
# given), by the shell itself for zsh (`compadd` without -Q) and fish (it escapes completions).

_BASH_SCRIPT = r"""%(complete_func)s() {
    local type value
    COMPREPLY=()
    while IFS= read -r -d '' type && IFS= read -r -d '' value; do
        case $type in
            plain) COMPREPLY+=("$value") ;;
            dir) COMPREPLY=(); compopt -o dirnames; return 0 ;;
            file) COMPREPLY=(); compopt -o default; return 0 ;;
        esac
    done < <(_MOFA_COMP_LINE=${COMP_LINE:0:COMP_POINT} _MOFA_COMP_TEXT=$2 \
%(complete_var)s=bash_complete command -- "$1")
    return 0
}

%(complete_func)s_setup() {
    complete -o nosort -F %(complete_func)s %(prog_name)s
}

%(complete_func)s_setup;
"""

_ZSH_SCRIPT = r"""#compdef %(prog_name)s

%(complete_func)s() {
    local -a response plain described shown
    local -i i
    (( ! $+commands[%(prog_name)s] )) && return 1

    response=("${(@0)$(printf '%%s\0' "${(@Q)words[1,CURRENT-1]}" "${(Q)PREFIX}" \
        | _MOFA_COMP_STDIN=words %(complete_var)s=zsh_complete command %(prog_name)s)}")

    for (( i = 1; i + 2 <= $#response; i += 3 )); do
        case $response[i] in
            plain)
                if [[ -n $response[i+2] ]]; then
                    described+=("$response[i+1]")
                    shown+=("$response[i+1]  -- $response[i+2]")
                else
                    plain+=("$response[i+1]")
                fi
                ;;
            dir) _path_files -/ ;;
            file) _path_files -f ;;
        esac
    done

    (( $#described )) && compadd -U -V unsorted -l -d shown -a described
    (( $#plain )) && compadd -U -V unsorted -a plain
    return 0
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    # autoload from fpath, call function directly
    %(complete_func)s "$@"
else
    # eval/source/. command, register function for later
    compdef %(complete_func)s %(prog_name)s
fi
"""

_FISH_SCRIPT = r"""function %(complete_func)s
    set -l current (commandline -ct | string unescape)
    set -l response (printf '%%s\0' (commandline -opc) "$current" \
        | env _MOFA_COMP_STDIN=words %(complete_var)s=fish_complete %(prog_name)s \
        | string split0)
    while set -q response[3]
        switch $response[1]
            case plain
                if test -n "$response[3]"
                    printf '%%s\t%%s\0' $response[2] $response[3]
                else
                    printf '%%s\0' $response[2]
                end
            case dir
                __fish_complete_directories $response[2] | string join0
            case file
                __fish_complete_path $response[2] | string join0
        end
        set -e response[1..3]
    end
end

complete --no-files --command %(prog_name)s --arguments "(%(complete_func)s | string split0)"
"""


def _fields(*fields: str) -> str:
    return "".join(field + "\0" for field in fields)


def _one_line(help_text: str | None) -> str:
    return " ".join((help_text or "").split())


def _passable(items: list[CompletionItem]) -> list[CompletionItem]:
    """Candidates that can reach a shell at all: a NUL cannot be in an argument."""
    return [item for item in items if "\0" not in str(item.value)]


class _NulAnswer(ShellComplete):
    """zsh and fish: the words before the cursor come NUL-terminated on stdin, and the answer
    is (type, value, help) per candidate, NUL-terminated; the shell quotes what it inserts."""

    def get_completion_args(self) -> tuple[list[str], str]:

        data = sys.stdin.buffer.read() if sys.stdin is not None else b""
        words = data.decode("utf-8", "surrogateescape").split("\0")[:-1]
        return words[1:-1], words[-1] if words else ""

    def complete(self) -> str:

        # a script saved by an older mofa (click's) inserts what it is given as the shell reads
        # it, and may leave stdin the terminal: it gets no answer
        if os.environ.get("_MOFA_COMP_STDIN") != "words":
            return ""
        args, incomplete = self.get_completion_args()
        items = _passable(self.get_completions(args, incomplete))
        return "".join(self.format_completion(item) for item in items)

    def format_completion(self, item: CompletionItem) -> str:
        return _fields(item.type, str(item.value), _one_line(item.help))


class SafeBashComplete(BashComplete):
    """bash inserts a candidate as given: mofa quotes it for the word being completed. bash
    sends the line up to the cursor and the end of the word that it will replace."""

    source_template = _BASH_SCRIPT

    def _word(self) -> tuple[list[str], str, str, str] | None:
        """(complete words after the command, the word under the cursor, that word as typed,
        the end of it that bash replaces); None when the line is not one to complete."""

        line = os.environ.get("_MOFA_COMP_LINE")
        words = None if line is None else bash_words(line)
        if words is None:  # also a script saved by an older mofa (click's), which sends no line
            return None
        *complete, (incomplete, typed) = words
        args = [value for value, _ in complete[1:]]
        return args, incomplete, typed, os.environ.get("_MOFA_COMP_TEXT", "")

    def get_completion_args(self) -> tuple[list[str], str]:
        word = self._word()
        return ([], "") if word is None else (word[0], word[1])

    def complete(self) -> str:
        word = self._word()
        if word is None:
            return ""
        args, incomplete, typed, text = word
        answer = []
        for item in _passable(self.get_completions(args, incomplete)):
            value = str(item.value)
            reply = bash_reply(value, incomplete, typed, text) if item.type == "plain" else value
            if reply is not None:
                answer.append(_fields(item.type, reply))
        return "".join(answer)


class SafeZshComplete(_NulAnswer, ZshComplete):
    source_template = _ZSH_SCRIPT


class SafeFishComplete(_NulAnswer, FishComplete):
    source_template = _FISH_SCRIPT

    def get_completions(self, args, incomplete):
        # fish reads a tab in a candidate as the start of its description: such an id cannot
        # be offered whole, so it is not offered
        return [
            item
            for item in super().get_completions(args, incomplete)
            if "\t" not in str(item.value)
        ]


SHELL_CLASSES: dict[str, type[ShellComplete]] = {
    "bash": SafeBashComplete,
    "zsh": SafeZshComplete,
    "fish": SafeFishComplete,
}


def register_shells() -> None:
    """Answer `_MOFA_COMPLETE=<shell>_complete` with these classes instead of click's."""
    for name, shell_class in SHELL_CLASSES.items():
        add_completion_class(shell_class, name)


# -- bash words and their quoting ----------------------------------------------------------------

_UNQUOTED, _SINGLE, _DOUBLE = "", "'", '"'
_SEPARATORS = " \t\n"
_OPERATORS = ";&|<>()"
_COMMAND_ENDS = ";&|()"
_SAFE = set("-_.,:/@%+=")


def bash_words(line: str) -> list[tuple[str, str]] | None:
    """The words of a bash command line (the one being completed, up to the cursor), each as
    (its value, its text as typed); the last is the word under the cursor, maybe empty. None
    for quoting this reading does not follow (`$'...'`, `$"..."`, a comment)."""
    lexed = _lex(line)
    return None if lexed is None else lexed[0]


def _lex(line: str) -> tuple[list[tuple[str, str]], str] | None:
    words: list[tuple[str, str]] = []
    value: list[str] = []
    start = None
    state = _UNQUOTED
    index = 0
    while index < len(line):
        char = line[index]
        if state == _SINGLE:
            if char == "'":
                state = _UNQUOTED
            else:
                value.append(char)
        elif state == _DOUBLE:
            if char == '"':
                state = _UNQUOTED
            elif char == "\\" and index + 1 < len(line) and line[index + 1] in '$`"\\\n':
                index += 1
                if line[index] != "\n":
                    value.append(line[index])
            else:
                value.append(char)
        elif char in _SEPARATORS or char in _OPERATORS:
            if start is not None:
                words.append(("".join(value), line[start:index]))
                value, start = [], None
            if char in _COMMAND_ENDS:
                words = []
        else:
            if start is None:
                if char == "#":
                    return None
                start = index
            if char == "\\":
                index += 1
                if index < len(line) and line[index] != "\n":
                    value.append(line[index])
            elif char == "$" and index + 1 < len(line) and line[index + 1] in "'\"":
                return None
            elif char in "'\"":
                state = char
            else:
                value.append(char)
        index += 1
    words.append(("".join(value), "" if start is None else line[start:]))
    return words, state


def _state_after(text: str) -> tuple[str, str] | None:
    """(value so far, quoting state) at the end of `text`, the start of one word."""
    lexed = _lex(text)
    if lexed is None or len(lexed[0]) != 1:
        return None
    return lexed[0][0][0], lexed[1]


def bash_reply(value: str, incomplete: str, typed: str, text: str) -> str | None:
    """What bash must put in place of `text` (the end of the word as typed, which bash
    replaces) so that the word becomes `value`, quoted: no character of it expands, splits or
    runs anything. None when the word cannot become `value` that way."""
    if incomplete.startswith("-") and "=" in incomplete and not value.startswith(incomplete):
        value = incomplete.partition("=")[0] + "=" + value  # click answers `--opt=` with values
    if not typed.endswith(text):
        return None
    kept = _state_after(typed[: len(typed) - len(text)])
    if kept is None or not value.startswith(kept[0]):
        return None
    reply = bash_quote(value[len(kept[0]) :], kept[1])
    if kept[1] and reply.endswith(kept[1]):
        # readline closes the quote after a sole match unless the line already ends in its
        # quote character: then it must be closed here
        reply += kept[1]
    return reply


def _ansi_c(char: str) -> str:
    return {"\n": "\\n", "\t": "\\t"}.get(char, f"\\x{ord(char):02x}")


def bash_quote(text: str, state: str = _UNQUOTED) -> str:
    """`text` written for bash to read as itself, starting (and ending) in quoting `state`."""
    out = []
    for char in text:
        control = ord(char) < 0x20 or ord(char) == 0x7F
        if state == _SINGLE:
            if control:
                out.append(f"'$'{_ansi_c(char)}''")
            elif char == "'":
                out.append("'\\''")
            else:
                out.append(char)
        elif state == _DOUBLE:
            if control:
                out.append(f"\"$'{_ansi_c(char)}'\"")
            elif char == "!":
                out.append('"\\!"')  # history expansion: a backslash stays inside "..."
            elif char in '"\\$`':
                out.append("\\" + char)
            else:
                out.append(char)
        elif control:
            out.append(f"$'{_ansi_c(char)}'")
        elif char.isalnum() or char in _SAFE:
            out.append(char)
        else:
            out.append("\\" + char)
    return "".join(out)
