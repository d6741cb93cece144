"""Events the kernel dropped (its inotify queue overflowed): the watcher reconciles the root."""

from __future__ import annotations

from watchdog.events import EventsLostEvent, FileCreatedEvent

from indexer.watch.changes import PendingChanges
from indexer.watch.watcher import SessionEventHandler, wanted_events


def test_lost_events_make_the_watcher_reconcile_the_whole_root(tmp_path):
    pending = PendingChanges()
    handler = SessionEventHandler(str(tmp_path), pending)
    handler.dispatch(EventsLostEvent(str(tmp_path), is_directory=True))
    batch = pending.take(timeout=5)
    assert batch is not None and batch.everything


def test_a_session_event_alone_does_not_reconcile_the_whole_root(tmp_path):
    pending = PendingChanges()
    handler = SessionEventHandler(str(tmp_path), pending)
    (tmp_path / "a").mkdir()
    handler.dispatch(FileCreatedEvent(str(tmp_path / "a" / "s.json")))
    batch = pending.take(timeout=5)
    assert batch is not None and not batch.everything and batch.files


def test_the_watch_asks_watchdog_for_lost_events():
    """watchdog delivers EventsLostEvent only to a watch whose event filter names it."""
    assert EventsLostEvent in wanted_events()
