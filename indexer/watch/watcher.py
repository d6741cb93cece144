"""Turning watchdog's events under the sessions root into pending changes."""

from __future__ import annotations

import os

from watchdog.events import (
    EventsLostEvent,
    FileSystemEvent,
    FileSystemEventHandler,
    FileSystemMovedEvent,
)

from indexer.watch.changes import PendingChanges
from indexer.watch.handshake import is_cookie
from mofa import tree


class SessionEventHandler(FileSystemEventHandler):
    """Maps each event to the session file, agent directory or cookie it concerns."""

    def __init__(self, root: str, pending: PendingChanges):
        self.root = os.path.abspath(root)
        # A root given through a symlink is reported under its real path.
        self.real_root = os.path.realpath(root)
        self.pending = pending

    def _relative(self, path: str) -> str:
        relative = os.path.relpath(path, self.root)
        if relative.startswith("..") and self.real_root != self.root:
            relative = os.path.relpath(path, self.real_root)
        return relative

    def _note(self, path: str | bytes, is_directory: bool, created: bool = False) -> None:
        path = os.fsdecode(path)
        relative = self._relative(path)
        if relative == ".":
            if not os.path.isdir(self.root):
                self.pending.add_everything()
            return
        if relative.startswith("..") or not tree.utf8_name(relative):
            return  # outside the root, or a name no session has (not UTF-8: left out)
        parts = relative.split(os.sep)
        if len(parts) == 1:
            name = parts[0]
            if is_cookie(name):
                if created:
                    self.pending.add_cookie(path)
            elif is_directory:
                if tree.is_agent_name(name):
                    self.pending.add_dir(name)  # an agent directory came, went or moved
            elif tree.is_session_name("", name):
                self.pending.add_file("", name)
        elif len(parts) == 2 and not is_directory:
            agent, name = parts
            if tree.is_session_name(agent, name):
                self.pending.add_file(agent, name)

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write") or isinstance(event, EventsLostEvent):
            return
        self._note(event.src_path, event.is_directory, created=event.event_type == "created")
        if isinstance(event, FileSystemMovedEvent) and event.dest_path:
            self._note(event.dest_path, event.is_directory)

    def on_events_lost(self, event: EventsLostEvent) -> None:
        """The kernel dropped events (its inotify queue overflowed): which files changed is no
        longer known, so the whole root is reconciled."""
        self.pending.add_everything()


def wanted_events() -> list:
    """The events SessionEventHandler takes: all but opens and closes without a write, which
    every reader of a session file (a command, a cold build) would otherwise send the watcher
    to wake up for and ignore. watchdog asks inotify only for what this list names, and
    delivers EventsLostEvent only to a watch whose list names it."""
    from watchdog import events

    return [
        events.FileCreatedEvent,
        events.DirCreatedEvent,
        events.FileDeletedEvent,
        events.DirDeletedEvent,
        events.FileMovedEvent,
        events.DirMovedEvent,
        events.FileModifiedEvent,
        events.DirModifiedEvent,
        events.FileClosedEvent,
        events.FileAttribEvent,
        events.DirAttribEvent,
        events.EventsLostEvent,
    ]
