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
    from mofa.paths import resolve_sessions_root
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
