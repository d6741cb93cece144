"""The times a user types: WHEN for `--since`, `--until`, `--before`, DURATION for `--older-than`.

WHEN is an RFC 3339 time (`2024-03-01T12:00:00Z`, an offset, 0 to 9 fractional digits; no
offset means UTC), a date (`2024-03-01`: that day's 00:00 UTC), or a duration back from now.
DURATION is one or more of a number and a unit: `30s`, `90m`, `12h`, `7d`, `2w`, `1d12h`.
Both come back in the index's text form, ready to compare with `created_at`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from mofa.errors import InvalidTimeSpec
from mofa.timestamps import moment_index_text, parse_timestamp, precise_index_text

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(?:[0-9]+[smhdw])+", re.ASCII)
_PART = re.compile(r"([0-9]+)([smhdw])", re.ASCII)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
# Checked before parsing: fromisoformat alone would also take week dates, other digits, "24:00".
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})?",
    re.ASCII,
)
# A week of seconds times this still fits a timedelta; beyond it no session can be that old.
_MAX_SECONDS = 10**11

WHEN_HELP = (
    "an RFC 3339 time (2024-03-01T12:00:00Z), a date (2024-03-01) or a duration back "
    "from now (90m, 12h, 7d, 2w)"
)
DURATION_HELP = "a duration such as 30s, 90m, 12h, 7d, 2w or 1d12h"


def bound_text(moment: datetime) -> str:
    """The index's text form of `moment`: the one place a bound becomes comparable text."""
    return moment_index_text(moment)


def parse_duration(text: str) -> timedelta:
    """`90m`, `12h`, `1d12h`, ... as a timedelta; raises InvalidTimeSpec."""
    spec = text.strip() if isinstance(text, str) else ""
    if not _DURATION.fullmatch(spec):
        raise InvalidTimeSpec(f"invalid duration {text!r}: expected {DURATION_HELP}")
    seconds = sum(int(number) * UNITS[unit] for number, unit in _PART.findall(spec))
    if seconds > _MAX_SECONDS:
        raise InvalidTimeSpec(f"invalid duration {text!r}: too long")
    return timedelta(seconds=seconds)


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """The moment WHEN names, as an aware UTC datetime; raises InvalidTimeSpec.

    `now` (default: the current time) is what durations count back from.
    """
    spec = text.strip() if isinstance(text, str) else ""
    if _DURATION.fullmatch(spec):
        return _back_from(now, parse_duration(spec), text)
    if _DATE.fullmatch(spec):
        spec += "T00:00:00Z"
    elif not _RFC3339.fullmatch(spec):
        raise InvalidTimeSpec(f"invalid time {text!r}: expected {WHEN_HELP}")
    moment = parse_timestamp(spec)
    if moment is None:
        raise InvalidTimeSpec(f"invalid time {text!r}: no such date or time")
    return moment


def when_text(text: str, now: datetime | None = None) -> str:
    """WHEN as a bound in the index's text form (a written time keeps all its digits)."""
    moment = parse_when(text, now)
    spec = text.strip()
    if _DURATION.fullmatch(spec):
        return bound_text(moment)
    # parse_when took `spec`, so it is a time: the fallback is never reached.
    return precise_index_text(spec + "T00:00:00Z" if _DATE.fullmatch(spec) else spec) or bound_text(
        moment
    )


def older_than_text(text: str, now: datetime | None = None) -> str:
    """The bound `--older-than DURATION` means: now minus the duration, in the index's form."""
    return bound_text(_back_from(now, parse_duration(text), text))


def _back_from(now: datetime | None, duration: timedelta, text: str) -> datetime:
    now = datetime.now(UTC) if now is None else now.astimezone(UTC)
    try:
        return now - duration
    except OverflowError:
        raise InvalidTimeSpec(f"invalid duration {text!r}: reaches before the year 1") from None
