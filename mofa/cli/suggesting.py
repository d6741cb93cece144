""" "Did you mean": looked for only once a look-up failed, so a found id costs nothing more."""

from __future__ import annotations

from mofa.cli import console


def resolve_or_suggest(store, text: str, origin: str | None = None):
    """`store.resolve_origin(text, origin)`; an id that names no session fails with up to
    three close ids in its message."""
    from mofa.errors import SessionNotFound

    try:
        return store.resolve_origin(text, origin)
    except SessionNotFound as error:
        raise with_suggestions(store, error, text) from None


def with_suggestions(store, error: BaseException, text: str) -> BaseException:
    """`error` (SessionNotFound for `text`) with the close ids the store knows, if any."""
    from mofa.errors import MofaError, SessionNotFound
    from mofa.suggestions import did_you_mean

    if type(error) is not SessionNotFound or not str(error).startswith("session not found"):
        return error  # a file that vanished meanwhile, a wrong origin: no typo to suggest for
    try:
        hint = did_you_mean(store.suggest_ids(text))
    except MofaError:  # suggestions are a help: never a failure of their own
        return error
    return SessionNotFound(f"{error}{hint}") if hint else error


def hint_agent(store, agent: str) -> None:
    """On stderr, the agents close to `agent`, one that holds no session."""
    from mofa.errors import MofaError
    from mofa.render import printable
    from mofa.suggestions import did_you_mean

    try:
        hint = did_you_mean(store.suggest_agents(agent))
    except MofaError:
        return
    if hint:
        console.status(f"No agent named {printable(agent)}{printable(hint)}")
