"""The one interface every command goes through, and the types it speaks in.

A store keeps sessions somewhere (files, files with a SQLite index, a database) and answers
in these types only: no caller ever sees a path, a connection or a row position. A new store
subclasses `SessionStore`, implements every abstract method, registers its URL scheme in
`mofa.stores.open_store`, and must pass the contract suite in `tests/contract/` unchanged.
"""

from __future__ import annotations

import builtins
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from mofa.errors import MofaError, SessionChanged, SessionNotFound, Unsupported
from mofa.stores.rows import ALL, SessionFilter, SessionRef, SessionRow

if TYPE_CHECKING:
    from mofa.session import Session
    from mofa.stores.queries import QueryResult
    from mofa.stores.results import CachedIndex, SearchHit, UpkeepResult, VerifyReport

Warn = Callable[[str], None]
Progress = Callable[[int, int], None]
# What search, rebuild, verify (mofa.stores.results) and query (mofa.stores.queries) return:
# defining a NamedTuple costs ~0.2 ms, which the listing path need not pay.
# Importable from here too.
RESULT_TYPES = ("SearchHit", "UpkeepResult", "Problem", "VerifyReport", "QueryResult")


def __getattr__(name: str):
    if name == "QueryResult":
        from mofa.stores.queries import QueryResult

        return QueryResult
    if name in RESULT_TYPES:
        from mofa.stores import results

        return getattr(results, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["SessionFilter", "SessionRef", "SessionRow", "SessionStore", "Warn", "Progress"]


class SessionStore(ABC):
    """What the commands need from wherever sessions are kept.

    Failures are the named exceptions of `mofa.errors`; `warn` (given to the store when it is
    opened) hears of what a command should mention but not stop for, such as an unreadable file.
    """

    kind: str = "abstract"

    # -- reading ---------------------------------------------------------------------------
    @abstractmethod
    def list(self, wanted: SessionFilter = ALL, wide: bool = False) -> Iterable[SessionRow]:
        """The sessions `wanted` names, oldest first (by created_at at full precision, or with
        `wanted.sort` "updated" by last activity; ties by session_id); with a limit, the `limit`
        most recent of them. `wide`: each row a `mofa.stores.wide.WideRow` (with its title)."""

    @abstractmethod
    def resolve(self, text: str) -> SessionRef:
        """The session a full or short id names. Raises InvalidSessionId, SessionNotFound,
        AmbiguousSessionId."""

    @abstractmethod
    def load(self, ref: SessionRef) -> Session:
        """The whole session. Raises CorruptSession when it cannot be read as one,
        SessionNotFound when it went away since `resolve`."""

    def resolve_origin(self, text: str, origin: str | None) -> SessionRef:
        """`resolve` among the sessions of one origin (a host mirroring into this store);
        None: among all. A store that holds no mirrored sessions knows no origin."""
        if origin is None:
            return self.resolve(text)

        raise SessionNotFound(
            f"session not found: {text} from origin {origin!r} (the {self.kind}"
            " store holds no mirrored sessions)"
        )

    def resolve_saved(self, session_id: str) -> SessionRef:
        """The session that `save(session_id, ...)` would replace, when there is one (raises
        as `resolve`). Every session of a store that mirrors no other host is its own."""
        return self.resolve(session_id)

    def resolve_rows(self, rows: builtins.list) -> builtins.list[SessionRef | MofaError]:
        """`resolve_many` for rows of `list`: a row that carries an origin (a store holding
        sessions of several) is looked up in that origin, so that the same id held by two
        origins is two sessions here too, as in `list`."""
        if not any(getattr(row, "origin", None) is not None for row in rows):
            return self.resolve_many([row.session_id for row in rows])

        outcomes: list = []
        for row in rows:
            try:
                outcomes.append(self.resolve_origin(row.session_id, getattr(row, "origin", None)))
            except MofaError as error:
                outcomes.append(error)
        return outcomes

    def resolve_many(self, texts: builtins.list[str]) -> builtins.list[SessionRef | MofaError]:
        """`resolve` for each text, in order: its ref, or the failure it met."""

        outcomes: list = []
        for text in texts:
            try:
                outcomes.append(self.resolve(text))
            except MofaError as error:
                outcomes.append(error)
        return outcomes

    def get(self, text: str) -> Session:
        return self.load(self.resolve(text))

    @abstractmethod
    def search(
        self, query: str, wanted: SessionFilter = ALL, role: str | None = None
    ) -> builtins.list[SearchHit]:
        """Sessions with messages (of `role`) that match `query` (mofa.searching.parse_query),
        best first, narrowed by `wanted`'s agent, since, until and limit, each with the position
        of its first matching message. Raises InvalidSearchQuery for a query it cannot take."""

    # -- writing ---------------------------------------------------------------------------
    @abstractmethod
    def delete(self, ref: SessionRef) -> None:
        """Remove the session for good. Raises SessionNotFound, SessionPermissionError,
        StoreError, or ReadOnlySession for a session this store may not delete."""

    def check_deletable(self, ref: SessionRef) -> None:
        """Raise what `delete(ref)` would refuse with before touching anything (ReadOnlySession:
        a session this store only mirrors), so that a prune archives nothing it cannot delete."""
        return None  # a store that may delete every session it lists refuses nothing ahead

    def load_version(self, ref: SessionRef) -> tuple[Session, object]:
        """The session, and a token of the state it was read in, for `delete_unchanged`."""
        from mofa.documents import export_document, to_json

        session = self.load(ref)
        return session, to_json(export_document(session))

    def delete_unchanged(self, ref: SessionRef, version: object) -> None:
        """`delete`, only if the session is still as `load_version` read it; else raise
        SessionChanged and keep it."""

        if self.load_version(ref)[1] != version:
            raise SessionChanged(
                f"session {ref.session_id} was written to since it was read; kept, not deleted"
            )
        self.delete(ref)

    def delete_many(
        self, refs: builtins.list[SessionRef], versions: builtins.list | None = None
    ) -> builtins.list[MofaError | None]:
        """`delete` for each ref, in order (`delete_unchanged` with its version, when
        `versions` are given): None where it went, else the failure it met."""

        outcomes: list = []
        for ref, version in zip(refs, versions or [None] * len(refs), strict=True):
            try:
                if version is None:
                    self.delete(ref)
                else:
                    self.delete_unchanged(ref, version)
                outcomes.append(None)
            except MofaError as error:
                outcomes.append(error)
        return outcomes

    @abstractmethod
    def save(self, session_id: str, document: dict, replace: bool = False) -> SessionRef:
        """Store a session given as `export` writes it (every stored field, and `messages`).
        Raises SessionExists when the id is taken, unless `replace`."""

    @abstractmethod
    def append(self, ref: SessionRef, message: dict) -> None:
        """Add one message at the end of a session."""

    def saving_many(self) -> contextlib.AbstractContextManager[None]:
        """A context for many `save`s in a row (an import): the store may make them durable
        together when it ends, rather than one by one. Every session saved in it is stored
        once it ends, whether it ends normally or by an error."""
        return contextlib.nullcontext()

    # -- upkeep ----------------------------------------------------------------------------
    @abstractmethod
    def status(self) -> dict[str, object]:
        """What the store holds and how fresh it is: `store` (its kind) first, then fields of
        its own. Never a password."""

    def rebuild(self, progress: Progress | None = None) -> UpkeepResult:
        """Rebuild whatever the store derives from its source of truth."""

        raise Unsupported(f"the {self.kind} store has nothing to rebuild")

    def verify(self, progress: Progress | None = None) -> VerifyReport:
        """Compare what the store derives with its source of truth."""
        from mofa.stores.results import VerifyReport

        return VerifyReport(0, [])

    def query(self, sql: str, timeout: float | None) -> QueryResult:
        """Read-only SQL against the relation `sessions`, stopped after `timeout` seconds
        (None: never); raises QueryError, QueryTimeout."""

        raise Unsupported(f"the {self.kind} store cannot run SQL")

    def index_location(self) -> str | None:
        """The file of the store's index, when it keeps one that users may read."""
        return None

    def stop_watcher(self) -> int | None:
        """Stop the mofa-indexd watching this store's root: its pid, None when none ran."""

        raise Unsupported(f"the {self.kind} store has no watcher")

    def cached_indexes(self) -> builtins.list[CachedIndex]:
        """Every index file of the user's cache directory, for any root."""

        raise Unsupported(f"the {self.kind} store keeps no index files")

    def clean_indexes(self) -> builtins.list[CachedIndex]:
        """Remove the cached index files of roots that no longer exist; returns them."""

        raise Unsupported(f"the {self.kind} store keeps no index files")

    def index_name(self) -> str | None:
        """The store's index as `index` commands name it: its file, or where it lives; None
        when it keeps none."""
        return self.index_location()

    def complete_ids(self, prefix: str, limit: int = 200) -> builtins.list[str]:
        """Session ids starting with `prefix` (and, for a short id, ids whose session part
        does), for shell completion: cheap, may be stale, never creates anything."""
        return sorted(
            {
                row.session_id
                for row in self.list()
                if row.session_id.startswith(prefix)
                or (":" not in prefix and row.name.startswith(prefix))
            }
        )[:limit]

    def complete_agents(self, prefix: str, limit: int = 200) -> builtins.list[str]:
        """Agents starting with `prefix`, for shell completion."""
        return sorted({row.agent for row in self.list() if row.agent.startswith(prefix)})[:limit]

    def suggest_ids(self, text: str) -> builtins.list[str]:
        """Up to three known session ids closest to `text`, an id that named no session (by
        its full id, or for a short id by its session part too): for "did you mean"."""
        from mofa.suggestions import close_matches

        return close_matches(text, ((row.session_id, row.name) for row in self.list()))

    def suggest_agents(self, agent: str) -> builtins.list[str]:
        """Up to three known agents closest to `agent`; [] when `agent` has sessions."""
        from mofa.suggestions import close_matches

        agents = {row.agent for row in self.list()}
        return [] if agent in agents else close_matches(agent, ((name,) for name in agents))

    def close(self) -> None:
        """Release connections and files; the store is unusable afterwards."""
        return None  # a store that holds nothing open has nothing to release

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
