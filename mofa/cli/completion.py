"""`mofa completion bash|zsh|fish`, and completion of session ids and agents.

The script is click's own (`_MOFA_COMPLETE=bash_source mofa`): the shell then calls `mofa`
back on each Tab, and click answers from the command tree. Ids and agents come from a callable
given to `session_id_completion`/`agent_completion`; `indexed_session_ids` and
`indexed_agents` read them from the index as it is (no refresh, read-only, never created): a
Tab must answer at once and must never write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import click

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
    from click.shell_completion import get_completion_class

    root = ctx.find_root()
    script = get_completion_class(shell)(root.command, {}, root.info_name or "mofa", COMPLETE_VAR)
    click.echo(script.source())


def _completion(candidates: Candidates, help_text: str | None = None):
    def complete(ctx: click.Context, param: click.Parameter, incomplete: str):
        from click.shell_completion import CompletionItem

        try:
            found = sorted({value for value in candidates(ctx, incomplete)
                            if isinstance(value, str) and value.startswith(incomplete)})
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


# -- candidates from the index -----------------------------------------------------------------

def _index_rows(ctx: click.Context, column: str, incomplete: str) -> list[str]:
    """Distinct values of `column` of `sessions` that start with `incomplete`, from the index
    of the root the command line names, opened read-only; [] when there is no index yet."""
    import os
    import sqlite3
    from urllib.parse import quote

    from indexer.location import resolve_index_path
    from mofa.paths import resolve_sessions_root

    params = ctx.find_root().params
    root = resolve_sessions_root(params.get("sessions_dir"))
    path = resolve_index_path(root, params.get("index_path"))
    if not os.path.isfile(path):
        return []
    conn = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, timeout=1.0)
    try:
        owner = conn.execute("SELECT value FROM meta WHERE key = 'root'").fetchone()
        if owner is None or owner[0] != os.path.realpath(root):  # another root's index
            return []
        # A range, not LIKE: case-sensitive as ids are, and it uses the column's index if any.
        return [value for (value,) in conn.execute(
            f"SELECT DISTINCT {column} FROM sessions WHERE {column} >= ? AND {column} < ?"
            f" ORDER BY {column} LIMIT ?", (incomplete, incomplete + "\U0010ffff", MAX_CANDIDATES))]
    finally:
        conn.close()


def indexed_session_ids(ctx: click.Context, incomplete: str) -> list[str]:
    """Session ids starting with `incomplete`, and, for a short id, whose session part does."""
    ids = _index_rows(ctx, "session_id", incomplete)
    if ":" not in incomplete:
        ids += _index_rows(ctx, "name", incomplete)
    return ids


def indexed_agents(ctx: click.Context, incomplete: str) -> list[str]:
    return _index_rows(ctx, "agent", incomplete)
